"""Inputs on an object store: s3:// through Beam's S3 filesystem, against a local moto server."""

import gzip
import socket

import pytest

from pipelines.curate import run
from tests.conftest import jsonl_bytes

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


# English prose that passes language ID and the quality rules.
RIVERS = (
    "Rivers carry water from the hills to the sea, and along the way they shape the land. "
    "Over many years a river cuts a valley, moves sand and stones, and builds wide plains "
    "where farmers grow their crops. Towns were often founded on the banks of a river, "
    "because the water was useful for drinking, for trade and for power. Today people "
    "still walk along the river paths, watch the birds and enjoy the quiet of the water. "
    "Keeping rivers clean is a task that needs the help of everyone who lives near them."
)


def test_read_from_s3(s3_endpoint, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="corpus")
    for shard in range(2):
        records = [{"text": f"Shard {shard} holds document {i}. {RIVERS}"} for i in range(20)]
        s3.put_object(
            Bucket="corpus",
            Key=f"c4/en/part-{shard}.jsonl.gz",
            Body=gzip.compress(jsonl_bytes(records), mtime=0),
        )
    s3.put_object(Bucket="corpus", Key="c4/en/broken.jsonl.gz", Body=b"not gzip at all")
    manifest = run(
        [
            "--vocab_size=600",
            "--seq_len=64",
            "--input=c4=s3://corpus/c4/*/*.jsonl.gz",
            f"--output={tmp_path}",
            f"--s3_endpoint_url={s3_endpoint}",
            "--s3_access_key_id=testing",
            "--s3_secret_access_key=testing",
            "--s3_region_name=us-east-1",
        ]
    )
    assert manifest["records"] == {
        "read": 41,
        "kept": 40,
        "dropped": 0,
        "dead_lettered": 1,
        "balanced": True,
    }
    files = {entry["file"] for entry in manifest["inputs"]}
    assert files == {f"s3://corpus/c4/en/part-{i}.jsonl.gz" for i in range(2)} | {
        "s3://corpus/c4/en/broken.jsonl.gz"
    }
    assert manifest["tokens"]["rows"] > 0
