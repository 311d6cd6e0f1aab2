"""Size limits on what a sender may put in one alert (issue #20: a 4.5 MB `alertname` stalled a
process for seconds). A value past its limit is refused with 400 naming its path, like any other
invalid input; nothing is truncated, so what is stored is what the sender sent. msgspec checks
them while decoding, at no cost worth measuring on the storm path (bench/README.md).

| what | limit |
|---|---|
| label (or tag) name | 256 characters |
| label (or tag) value, CI, symptom, title, check, host | 4,096 characters |
| labels (tags, links) per alert | 256 |
| annotation value, description, other text | 65,536 characters |
| annotations per alert | 256 |
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NAME_CHARS = 256
VALUE_CHARS = 4096
TEXT_CHARS = 65536
PER_ALERT = 256

LabelName = Annotated[str, msgspec.Meta(max_length=NAME_CHARS)]
Value = Annotated[str, msgspec.Meta(max_length=VALUE_CHARS)]
NonEmptyValue = Annotated[str, msgspec.Meta(min_length=1, max_length=VALUE_CHARS)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_CHARS)]
Labels = Annotated[dict[LabelName, Value], msgspec.Meta(max_length=PER_ALERT)]
Annotations = Annotated[dict[LabelName, Text], msgspec.Meta(max_length=PER_ALERT)]
