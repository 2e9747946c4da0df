"""The network's fingerprint as stored with checkpoints, and the first difference between two
fingerprints.
"""

import json

_FINGERPRINT_FIELDS = ("name", "op", "shape", "trainable", "non_trainable", "inputs", "options")


def _as_json(value):
    return json.loads(json.dumps(value))


def _fingerprint_parameters(fingerprint):
    """The network's parameter count from its fingerprint (None without one)."""
    if fingerprint is None:
        return None
    counts = [count for row in fingerprint for count in row[3:5]]
    return sum(counts) if all(isinstance(count, int) for count in counts) else None


def _show_field(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _row_difference(old, new):
    changes = []
    for field, was, now in zip(_FINGERPRINT_FIELDS[2:], old[2:], new[2:]):
        if field == "options":
            for key in sorted(set(was) | set(now)):
                if was.get(key) != now.get(key):
                    changes.append(f"{key} {was.get(key, '(none)')} → {now.get(key, '(none)')}")
        elif was != now:
            what = field.replace("_", "-") + (" parameters" if "trainable" in field else "")
            changes.append(f"{what} {_show_field(was)} → {_show_field(now)}")
    return f"layer `{new[0]}` ({new[1]}) differs: {', '.join(changes)}"


def _fingerprint_difference(stored, current):
    """The first difference between the checkpoint's fingerprint and this network's, in
    words; None when they are equal."""
    stored, current = _as_json(stored), _as_json(current)
    if stored == current:
        return None
    for index, (old, new) in enumerate(zip(stored, current)):
        if old == new:
            continue
        if old[:2] != new[:2]:
            return (
                f"layer {index} is `{new[0]}` ({new[1]}) in this network but "
                f"`{old[0]}` ({old[1]}) in the checkpoint's"
            )
        return _row_difference(old, new)
    longer, owner = (current, "this network") if len(current) > len(stored) else (
        stored, "the checkpoint's network")  # fmt: skip
    first = longer[min(len(stored), len(current))]
    return (
        f"{owner} has {abs(len(current) - len(stored))} more layer(s), "
        f"from `{first[0]}` ({first[1]})"
    )
