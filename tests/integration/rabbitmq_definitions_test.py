"""deploy/rabbitmq is what a broker of the deployment boots with: a node of this test's own runs
deploy/rabbitmq/rabbitmq.conf (its listener lines left out: the test node's ports come from the
environment; load_definitions pointed at the repository's definitions.json) and then holds, in
/sutazai, exactly the topology of API.md (rabbitmq_topology.API_TOPOLOGY), as the file itself
declares; importing the file again (rabbitmqctl import_definitions) changes nothing; the file holds
no users nor permissions."""
import json
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
import rabbitmq_topology as topology  # noqa: E402
from rabbitmq_server import PLATFORM_VHOST, RabbitMQServer, deploy_config  # noqa: E402

DEPLOY = ROOT / "deploy" / "rabbitmq"


class DefinitionsTest(unittest.TestCase):
    def setUp(self):
        self.definitions = json.loads((DEPLOY / "definitions.json").read_text())

    def test_the_file_declares_the_contract_and_no_credentials(self):
        self.assertEqual(
            topology.differences(topology.API_TOPOLOGY,
                                 topology.definitions_topology(self.definitions, PLATFORM_VHOST)), [])
        self.assertNotIn("users", self.definitions)
        self.assertNotIn("permissions", self.definitions)
        self.assertEqual([v["name"] for v in self.definitions["vhosts"]], [PLATFORM_VHOST])

    def test_a_node_booted_with_deploy_config_holds_exactly_the_contract(self):
        with RabbitMQServer(config=deploy_config()) as rmq:
            got = topology.declared_topology(rmq, PLATFORM_VHOST)
            self.assertEqual(topology.differences(topology.API_TOPOLOGY, got), [])
            self.assertEqual(got, topology.API_TOPOLOGY)
            # Boot-time definitions replace the broker's defaults: no guest, no vhost "/".
            users = json.loads(rmq.ctl("list_users", "--formatter", "json").stdout)
            self.assertEqual(users, [])
            vhosts = rmq.ctl("list_vhosts", "--quiet", "--no-table-headers").stdout.split()
            self.assertEqual(vhosts, [PLATFORM_VHOST])

            rmq.ctl("import_definitions", str(DEPLOY / "definitions.json"))
            self.assertEqual(topology.declared_topology(rmq, PLATFORM_VHOST), got)


if __name__ == "__main__":
    unittest.main(verbosity=2)
