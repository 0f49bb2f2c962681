"""Read a license file as Replicated's Go code reads it, safely. No Flask here.

kots loads a license with go-yaml v2 (yaml.v2), turns it into JSON (sigs.k8s.io/yaml), then
decodes that JSON into typed Go structs. PyYAML's YAML 1.1 rules differ from yaml.v2's: it
reads `1e+06` as text, `y` as text, `1:30` as 90 and fails on `=`. So plain scalars are
resolved here by yaml.v2's rules (go-yaml v2 resolve.go), values take the shape JSON gives
them (a whole float is an integer, keys are text), and a file that starts with `{` is read
as JSON, as kots does.

Hostile YAML is refused from the parser's events, before anything is built: aliases,
anchors, tags, deep nesting, huge values and huge files cost little time and memory.
Deliberately stricter than yaml.v2: a key given twice, and a number with a fraction as a key,
are refused (yaml.v2 keeps the last one, and spells the float in 32-bit precision).
"""

import decimal
import functools
import json
import math
import re
from typing import Any, ClassVar

MAX_DEPTH = 32  # a real license nests five levels deep
MAX_NODES = 100_000
MAX_SCALAR_CHARS = 3 * 1024 * 1024  # the signature of a license with a large entitlement

# yaml.v2 resolve.go: the plain scalars that are not text.
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# Go's strconv.ParseInt(s, 0, 64): a sign, then 0x/0o/0b, or a leading 0 for octal.
_GO_INTEGER = re.compile(
    r"(?P<sign>[-+]?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[oO](?P<oct>[0-7]+)|0[bB](?P<bin>[01]+)"
    r"|0(?P<octal>[0-7]*)|(?P<dec>[1-9][0-9]*))"
)
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_UINT64_MAX = 2**64 - 1

# unicode.IsSpace, what apimachinery's IsJSONBuffer skips before looking for `{`.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# JSON prints a float in 'e' form from 1e21 up; below that a whole float is integer text.
_WHOLE_FLOAT_LIMIT = 1e21


class YamlRefused(ValueError):
    """The file is not one Replicated could read, or not one a license ever is."""


def _go_integer(text):
    match = _GO_INTEGER.fullmatch(text)
    if match is None:
        return None
    for group, base in (("hex", 16), ("oct", 8), ("bin", 2), ("octal", 8), ("dec", 10)):
        digits = match.group(group)
        if digits is not None:
            value = int(digits or "0", base)
            break
    if match.group("sign") == "-":
        value = -value
    # ParseInt takes int64; ParseUint (no sign) goes on to uint64; past that it is no integer.
    if -(2**63) <= value < 2**63 or (not match.group("sign") and value <= _UINT64_MAX):
        return value
    return None


def plain_scalar(text):
    """What yaml.v2 makes of a plain (unquoted) scalar: None, bool, int, float or the text."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    first = text[0]
    if first == ".":
        return float(text) if _YAML_FLOAT.fullmatch(text) else text
    if not (first.isdigit() or first in "+-"):
        return text  # yaml.v2 looks no further: `=`, `y2`, `abc` are text
    plain = text.replace("_", "")
    number = _go_integer(plain)
    if number is not None:
        return number
    if _YAML_FLOAT.fullmatch(plain):
        return float(plain)
    return text  # 1:30, 2025-01-01, 0x1p4: text (a date keeps its source text, as in yaml.v2)


def json_value(value, where="the file"):
    """A value as sigs.k8s.io/yaml hands it to the JSON decoder: a whole float below 1e21 is an
    integer; NaN and infinity cannot be JSON, so Replicated cannot read the file."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise YamlRefused(f"{where} holds {value!r}, which is not a number JSON can hold")
        if value.is_integer() and abs(value) < _WHOLE_FLOAT_LIMIT:
            # Go's encoding/json writes the shortest decimal that reads back as this float
            # (strconv.AppendFloat(f, 'f', -1, 64)), not its exact binary value: 2^60 becomes
            # 1152921504606847000. Python's repr is that same shortest decimal.
            return int(decimal.Decimal(repr(value)))
    return value


def json_key(key, path):
    """A mapping key as JSON text (sigs.k8s.io/yaml): numbers and booleans are spelled out."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if key is None:
        raise YamlRefused(f"{path or 'the file'} has an empty or null key")
    raise YamlRefused(f"{path or 'the file'} has the key {key!r}, which a license never has")


@functools.cache
def _yaml():
    """PyYAML (on first use), libyaml's parser, and a loader that resolves as yaml.v2."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class GoLoader(base):  # type: ignore[valid-type,misc]
        """Every scalar is text to the resolver; the constructor applies yaml.v2's rules."""

        yaml_implicit_resolvers: ClassVar[dict[str, Any]] = {}

        text_marks: frozenset[int] = frozenset()

        def construct_mapping(self, node, deep=False):
            mapping = {}
            for key_node, value_node in node.value:
                if key_node.value == "<<" and key_node.style in (None, ""):
                    raise YamlRefused(
                        f"line {key_node.start_mark.line + 1} uses a YAML merge key (<<); a "
                        "file Replicated wrote never does"
                    )
                key = json_key(self.construct_object(key_node, deep=True), "")
                if key in mapping:
                    line = key_node.start_mark.line + 1
                    raise YamlRefused(
                        f"the key {key} appears twice (again at line {line}); a file "
                        "Replicated wrote never repeats a key"
                    )
                mapping[key] = self.construct_object(value_node, deep=deep)
            # sigs.k8s.io/yaml hands Go the JSON of the mapping, its keys sorted: where the
            # order matters (keys of one field in another case), it is Go's order.
            return dict(sorted(mapping.items()))

    def scalar(loader, node):
        # Plain, and not under the non-specific tag `!` (yaml.v2 resolves no tagged scalar:
        # `! 5` is the text 5): the only kind yaml.v2 resolves.
        if node.style in (None, "") and node.start_mark.index not in loader.text_marks:
            return json_value(plain_scalar(node.value), f"line {node.start_mark.line + 1}")
        return node.value  # quoted or block: always text

    def mapping(loader, node):
        return loader.construct_mapping(node, deep=True)

    GoLoader.add_constructor("tag:yaml.org,2002:str", scalar)
    GoLoader.add_constructor("tag:yaml.org,2002:map", mapping)
    return yaml, base, GoLoader


def _refuse_node(yaml, event):
    """Refuse an event that no license has: an alias, an anchor, a tag, a huge value."""
    if isinstance(event, yaml.AliasEvent):
        raise YamlRefused("This uses YAML aliases (*name); a license never does.")
    if not isinstance(event, yaml.NodeEvent):
        return
    if getattr(event, "tag", None) not in (None, "!"):
        raise YamlRefused(f"This uses the YAML tag {event.tag}; a license never does.")
    if getattr(event, "anchor", None) is not None:
        raise YamlRefused("This uses YAML anchors (&name); a license never does.")
    if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
        raise YamlRefused("This holds a value far larger than any license field.")


def _refuse_what_yaml_v2_refuses(yaml, event, flow_depth):
    """What libyaml and PyYAML read and yaml.v2 does not (parserc.go, scannerc.go)."""
    version = getattr(event, "version", None)
    if isinstance(event, yaml.DocumentStartEvent) and version not in (None, (1, 1)):
        raise YamlRefused(
            f"This declares %YAML {version[0]}.{version[1]}; Replicated's YAML reader takes "
            "only YAML 1.1 (found incompatible YAML document)."
        )
    if (
        flow_depth
        and isinstance(event, yaml.ScalarEvent)
        and event.style in (None, "")
        and "?" in event.value
    ):
        raise YamlRefused(
            f"line {event.start_mark.line + 1} has a ? inside a value in braces or brackets, "
            "which Replicated's YAML reader cannot read (did not find expected ',' or '}')."
        )


def _check_events(text):
    """Walk the parser's events first: refuse aliases, anchors, tags, deep nesting and huge
    values before anything is built. Return where the scalars under the tag `!` start."""
    yaml, event_loader, _ = _yaml()
    depth = nodes = 0
    flows: list[bool] = []
    text_marks = set()
    try:
        for event in yaml.parse(text, Loader=event_loader):
            _refuse_node(yaml, event)
            _refuse_what_yaml_v2_refuses(yaml, event, any(flows))
            if isinstance(event, yaml.ScalarEvent) and event.tag == "!":
                text_marks.add(event.start_mark.index)
            if isinstance(event, yaml.CollectionStartEvent):
                flows.append(bool(event.flow_style))
            elif isinstance(event, yaml.CollectionEndEvent):
                flows.pop()
            nodes += isinstance(event, yaml.NodeEvent)
            if nodes > MAX_NODES:
                raise YamlRefused("This is far larger than a license.")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if depth > MAX_DEPTH:
                raise YamlRefused(
                    f"This nests more than {MAX_DEPTH} levels deep; a license never does."
                )
    except yaml.YAMLError as error:
        raise _not_yaml(error) from None
    return frozenset(text_marks)


LOOKS_LIKE = (
    "A license file begins with apiVersion: kots.io/v1beta1 (or v1beta2) and kind: License, "
    "then a spec with the license's fields and a long signature: download it again from the "
    "vendor portal, or copy the whole file."
)


def _not_yaml(error):
    return YamlRefused(
        f"This is not a license file: it cannot be read as YAML ({_yaml_problem(error)}). "
        + LOOKS_LIKE
    )


def _yaml_problem(error):
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "it cannot be read"
    return f"{problem} at line {mark.line + 1}" if mark else problem


def _json_object(pairs):
    mapping = {}
    for key, value in pairs:
        if key in mapping:
            raise YamlRefused(
                f"the key {key} appears twice; a file Replicated wrote never repeats a key"
            )
        mapping[key] = value
    return mapping


def _no_constant(name):
    raise YamlRefused(f"the file holds {name}, which is not a number JSON can hold")


def _too_deep(value, depth=0):
    if depth > MAX_DEPTH:
        return True
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    return any(_too_deep(child, depth + 1) for child in children)


def read_documents(text, had_bom=False):
    """The documents of a license file's text, as Replicated's Go code would see them.

    Raises YamlRefused, its message in an admin's words, for anything hostile or unreadable.
    A file that began with a byte-order mark goes to YAML whatever follows (apimachinery's
    IsJSONBuffer skips only white space, and U+FEFF is none).
    """
    if not had_bom and text.lstrip(_GO_SPACE).startswith("{"):  # kots reads it as JSON
        try:
            document = json.loads(text, object_pairs_hook=_json_object, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise YamlRefused(f"This is not valid JSON: {error}.") from None
        if _too_deep(document):
            raise YamlRefused(
                f"This nests more than {MAX_DEPTH} levels deep; a license never does."
            )
        return [document]
    text_marks = _check_events(text)
    yaml, _, go_loader = _yaml()
    loader = go_loader(text)
    loader.text_marks = text_marks
    try:
        documents = []
        while loader.check_data():
            document = loader.get_data()
            if document is not None:
                documents.append(document)
        return documents
    except YamlRefused as refused:
        raise YamlRefused(f"This cannot be read as Replicated reads it: {refused}.") from None
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise _not_yaml(error) from None
    finally:
        loader.dispose()
