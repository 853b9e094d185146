"""Text that XML 1.0 can hold: the one policy of every XML-based output (xlsx cells, JUnit XML).

Model output is full of control characters, lone surrogates and noncharacters (U+FFFE/U+FFFF) that
XML 1.0 forbids; serialisers keep them and parsers then refuse the whole file. Each becomes U+FFFD.
"""

from __future__ import annotations

import re

__all__ = ["xml_text"]

_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)
