"""The fixture's Chroma server answers REST v2 as ../shared/contracts says: a collection in l2 space,
three records, a query whose distances are squared L2, a filtered query, and the collection dropped.
Run by ctest (fixture chroma), which sets VECMESH_CHROMA_URL_FILE."""
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
from chroma_server import rest, url_from_env  # noqa: E402

P = "/api/v2/tenants/default_tenant/databases/default_database"


def expect(status, body, want, what):
    if status != want:
        sys.exit(f"{what}: status {status}, expected {want}: {body}")
    return body


def main():
    url = url_from_env()
    expect(*rest(url, "GET", "/api/v2/heartbeat"), 200, "heartbeat")
    name = f"smoke-{uuid.uuid4().hex[:12]}"
    created = expect(*rest(url, "POST", f"{P}/collections",
                           {"name": name, "configuration": {"hnsw": {"space": "l2"}}}), 200, "create")
    c = f"{P}/collections/{created['id']}"
    expect(*rest(url, "POST", f"{c}/add", {
        "ids": ["a", "b", "c"],
        "embeddings": [[1, 0, 0], [0, 2, 0], [0, 0, 3]],
        "metadatas": [{"tag": "x"}, {"tag": "y"}, {"tag": "x"}]}), 201, "add")
    count = expect(*rest(url, "GET", f"{c}/count"), 200, "count")
    assert count == 3, count

    result = expect(*rest(url, "POST", f"{c}/query", {
        "query_embeddings": [[1, 0, 0]], "n_results": 3,
        "include": ["distances", "metadatas"]}), 200, "query")
    # Squared L2: |q-a|^2 = 0, |q-b|^2 = 1 + 4, |q-c|^2 = 1 + 9.
    assert result["ids"] == [["a", "b", "c"]], result
    assert result["distances"] == [[0.0, 5.0, 10.0]], result
    assert result["metadatas"] == [[{"tag": "x"}, {"tag": "y"}, {"tag": "x"}]], result

    filtered = expect(*rest(url, "POST", f"{c}/query", {
        "query_embeddings": [[0, 0, 0]], "n_results": 3, "where": {"tag": {"$eq": "x"}},
        "include": ["distances"]}), 200, "filtered query")
    assert filtered["ids"] == [["a", "c"]] and filtered["distances"] == [[1.0, 9.0]], filtered

    expect(*rest(url, "DELETE", f"{P}/collections/{name}"), 200, "drop")
    expect(*rest(url, "GET", f"{P}/collections/{name}"), 404, "get after drop")
    print(f"chroma smoke: {url} answered create, add, count, query, filtered query and drop")


if __name__ == "__main__":
    main()
