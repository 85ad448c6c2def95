# Custom Beam SDK worker image for Dataflow and Flink: Beam's official Python 3.11 SDK
# image of the exact Beam version this project pins, with the project installed.
#   docker build -t REGISTRY/curate-worker:0.1.0 .
#   python -m pipelines.curate --sdk_container_image=REGISTRY/curate-worker:0.1.0 ...
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/curate
COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
COPY transforms ./transforms
COPY tokenizer ./tokenizer
COPY schemas ./schemas
RUN pip install --no-cache-dir ".[gcp,aws]" \
    && python -c "import pipelines.curate, transforms.readers, tokenizers, zstandard"

# Keep the SDK harness as the entry point so runners can start the worker.
ENTRYPOINT ["/opt/apache/beam/boot"]
