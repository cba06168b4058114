"""The layers are enforced: scripts/check-layers passes on the repository and rejects, line by
line, a fixture tree whose every include crosses a layer; and the engine's include root cannot
even find an api/ header (the compiler refuses the fixture's engine file)."""
import os
import pathlib
import subprocess
import sys
import unittest

SOURCE = pathlib.Path(__file__).resolve().parent.parent.parent
CHECK = SOURCE / "scripts" / "check-layers"
FIXTURE = SOURCE / "tests" / "fixtures" / "layering"


def run(*args):
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True,
                          timeout=60)


class CheckLayersTest(unittest.TestCase):
    def test_the_repository_follows_the_layers(self):
        result = run(str(SOURCE))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_the_bad_fixture_is_rejected_naming_each_include(self):
        result = run(str(FIXTURE))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        flagged = {line.split(": ", 1)[0] for line in result.stdout.splitlines() if ": " in line}
        self.assertEqual(flagged - {"check-layers"}, {
            "engine/index/includes_api.cc:3",   # an api/ header from the engine
            "engine/index/includes_api.cc:4",   # a relative include climbing out
            "engine/index/includes_api.cc:5",   # Beast in the engine
            "api/service/includes_transports.cc:3",  # a transport from the service layer
            "api/service/includes_transports.cc:4",  # gRPC in the service layer
            "api/service/includes_transports.cc:5",  # a transport, in angle brackets
            "api/rest/includes_protobuf.cc:3",  # protobuf outside api/grpc
            "api/grpc/includes_beast.cc:3",     # Beast outside api/rest
            "adapters/amqp/leaks_rabbitmq.h:5",  # rabbitmq-c in an adapter's header
            "api/cli/includes_server.cc:3",     # the service layer from the command line
            "api/cli/includes_server.cc:4",     # Beast in the command line (gRPC is its own)
        })

    def test_the_engine_include_root_cannot_reach_api(self):
        compiler = os.environ["VECMESH_CXX"]
        root = os.environ["VECMESH_ENGINE_INCLUDE_ROOT"]
        source = FIXTURE / "engine" / "index" / "includes_api.cc"
        result = subprocess.run([compiler, "-std=c++20", "-fsyntax-only", "-I", root, "-x", "c++",
                                 str(source)], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("api/service/service.h", result.stderr)
        self.assertIn("No such file", result.stderr)


if __name__ == "__main__":
    unittest.main()
