"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902), as the Kubernetes API server applies
them to a stored object; a JSON Patch that does not apply raises PatchError.
"""

import copy
import re

from .common import json_equal


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _ptr(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % (path,))
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(lst, part, allow_end=False):
    if allow_end and part == "-":
        return len(lst)
    if not re.fullmatch(r"0|[1-9][0-9]*", part):
        raise PatchError("invalid array index %r" % part)
    i = int(part)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise PatchError("array index %d out of bounds" % i)
    return i


def _get(doc, parts, path):
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list):
            cur = cur[_index(cur, part)]
        else:
            raise PatchError("doc is missing path: %s: missing value" % path)
    return cur


def _parent(doc, parts, path):
    if not parts:
        raise PatchError("cannot operate on the document root: %s" % path)
    return _get(doc, parts[:-1], path), parts[-1]


def json_patch(doc, ops):
    """RFC 6902 JSON Patch; raises PatchError on any failure."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("invalid operation %r" % (op,))
        kind, path = op.get("op"), op.get("path")
        parts = _ptr(path)

        def add(parts, value, path=path):
            nonlocal doc
            if not parts:
                doc = value
                return
            parent, key = _parent(doc, parts, path)
            if isinstance(parent, dict):
                parent[key] = value
            elif isinstance(parent, list):
                parent.insert(_index(parent, key, allow_end=True), value)
            else:
                raise PatchError("add operation does not apply: doc is missing path: %s" % path)

        def remove(parts, path=path):
            parent, key = _parent(doc, parts, path)
            if isinstance(parent, dict) and key in parent:
                return parent.pop(key)
            if isinstance(parent, list):
                return parent.pop(_index(parent, key))
            raise PatchError("remove operation does not apply: doc is missing path: %s" % path)

        if kind == "add":
            if "value" not in op:
                raise PatchError("add operation has no value")
            add(parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            remove(parts)
        elif kind == "replace":
            if "value" not in op:
                raise PatchError("replace operation has no value")
            _get(doc, parts, path)
            if parts:
                parent, key = _parent(doc, parts, path)
                if isinstance(parent, list):
                    parent[_index(parent, key)] = copy.deepcopy(op["value"])
                else:
                    parent[key] = copy.deepcopy(op["value"])
            else:
                doc = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            src = op.get("from")
            sparts = _ptr(src)
            value = copy.deepcopy(_get(doc, sparts, src))
            if kind == "move":
                remove(sparts, src)
            add(parts, value)
        elif kind == "test":
            if not json_equal(_get(doc, parts, path), op.get("value")):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc
