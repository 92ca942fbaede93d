"""The Table service's limits on a transaction, as every writer of entity batches must respect them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The service refuses a transaction of more than 100 operations, or of a body above 4 MiB; stay well under both.
MAX_OPERATIONS = 100
MAX_BYTES = 2 * 1024 * 1024


def entity_size(entity: Mapping[str, Any]) -> int:
    """A generous estimate of an entity's size in a transaction body."""
    return len(json.dumps(entity, default=str).encode()) + 256
