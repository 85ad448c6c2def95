"""Entry points (`python -m pipelines.<name>`) and the graph that wires the stages."""

import logging


class _DropApitoolsNotice(logging.Filter):
    """Beam logs 'apitools not found' on import when the GCP extra is absent; that is the
    expected state for local and Dask runs, so it is not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_DropApitoolsNotice())
