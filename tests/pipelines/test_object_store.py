"""Inputs on an object store: s3:// through Beam's S3 filesystem, against a local moto server."""

import socket

import pytest

from pipelines.curate import run

moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (the dev extra)")
boto3 = pytest.importorskip("boto3", reason="needs apache-beam[aws] (the dev extra)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


C4_SAMPLES = ("c4-sample.01.json.gz", "c4-sample.02.json.gz", "c4-sample.03.json.gz")
# Shared by both runs: small enough to train and pack the real C4 sample in seconds.
RUN_FLAGS = ["--vocab_size=600", "--seq_len=64"]


def _shard_hashes(manifest: dict) -> list[tuple[str, str]]:
    return [(s["path"], s["sha256"]) for s in manifest["tokens"]["shards"]]


def test_read_from_s3_matches_local(s3_endpoint, tmp_path, fixtures):
    """The real C4 sample on an object store gives the same outcome, counts and token shards
    as the same files on local disk; a damaged object is dead-lettered, not fatal."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="corpus")
    local = tmp_path / "local" / "c4" / "en"
    local.mkdir(parents=True)
    files = {name: (fixtures / "web-jsonl" / name).read_bytes() for name in C4_SAMPLES}
    files["broken.json.gz"] = b"not gzip at all"
    for name, body in files.items():
        s3.put_object(Bucket="corpus", Key=f"c4/en/{name}", Body=body)
        (local / name).write_bytes(body)

    from_s3 = run(
        [
            *RUN_FLAGS,
            "--input=c4=s3://corpus/c4/*/*.json.gz",
            f"--output={tmp_path / 'from-s3'}",
            f"--s3_endpoint_url={s3_endpoint}",
            "--s3_access_key_id=testing",
            "--s3_secret_access_key=testing",
            "--s3_region_name=us-east-1",
        ]
    )
    from_disk = run(
        [
            *RUN_FLAGS,
            f"--input=c4={tmp_path / 'local' / 'c4'}/*/*.json.gz",
            f"--output={tmp_path / 'from-disk'}",
        ]
    )

    records = from_s3["records"]
    assert (records["read"], records["dead_lettered"], records["balanced"]) == (31, 1, True)
    assert records["kept"] > 15  # most of the C4 sample passes the rules
    assert {entry["file"] for entry in from_s3["inputs"]} == {
        f"s3://corpus/c4/en/{name}" for name in files
    }
    assert from_s3["records"] == from_disk["records"]
    assert from_s3["stages"] == from_disk["stages"]
    assert from_s3["tokens"]["rows"] > 0
    assert _shard_hashes(from_s3) == _shard_hashes(from_disk)
