"""Bridge between the Rust `smp` crate's differential tests and the Python `smp` package.

Reads one JSON array of jobs on stdin and writes one JSON array of results on stdout.
Byte strings travel as {"$bytes": "<hex>"} in both directions.

Jobs:
  {"job": "build", "class": "smp.os_management.EchoWriteRequest", "args": {...},
   "sequence": 7, "version": 1}
      -> {"hex": "<the message bytes Python produces>"}
  {"job": "raw", "header": {"op", "version", "group_id", "sequence", "command_id"}, "body": {...}}
      -> {"hex": "<smp.header.Header bytes + cbor2.dumps(body, canonical=True)>"}
      (for messages the package cannot build itself, e.g. its error classes have no op)
  {"job": "load", "class": "smp.os_management.EchoWriteResponse", "hex": "<message bytes>"}
      -> {"header": {...}, "fields": {<fields that were set, by alias>}}
  Any failure -> {"error": "<exception type>: <message>"}
"""

import enum
import importlib
import json
import sys


def from_json(x):
    if isinstance(x, dict):
        if set(x) == {"$bytes"}:
            return bytes.fromhex(x["$bytes"])
        return {k: from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [from_json(v) for v in x]
    return x


def to_json(x):
    if isinstance(x, (bytes, bytearray)):
        return {"$bytes": bytes(x).hex()}
    if isinstance(x, dict):
        return {str(k): to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    if isinstance(x, enum.Enum):
        return x.value
    return x


def load_class(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run(job):
    if job["job"] == "raw":
        import cbor2
        from smp import header as smphdr

        body = cbor2.dumps(from_json(job["body"]), canonical=True)
        h = job["header"]
        hdr = smphdr.Header(
            op=smphdr.OP(h["op"]),
            version=smphdr.Version(h["version"]),
            flags=smphdr.Flag(0),
            length=len(body),
            group_id=h["group_id"],
            sequence=h["sequence"],
            command_id=h["command_id"],
        )
        return {"hex": (bytes(hdr) + body).hex()}
    cls = load_class(job["class"])
    if job["job"] == "build":
        from smp import header as smphdr

        args = from_json(job.get("args", {}))
        msg = cls(**args, sequence=job.get("sequence", 0), version=smphdr.Version(job.get("version", 1)))
        return {"hex": bytes(msg).hex()}
    if job["job"] == "load":
        msg = cls.loads(bytes.fromhex(job["hex"]))
        h = msg.header
        fields = msg.model_dump(
            exclude_unset=True,
            by_alias=True,
            exclude={"header", "version", "sequence", "smp_data"},
        )
        header = {
            "op": int(h.op),
            "version": int(h.version),
            "flags": int(h.flags),
            "length": h.length,
            "group_id": int(h.group_id),
            "sequence": h.sequence,
            "command_id": int(h.command_id),
        }
        return {"header": header, "fields": to_json(fields)}
    raise ValueError(f"unknown job {job['job']!r}")


def main():
    jobs = json.load(sys.stdin)
    results = []
    for job in jobs:
        try:
            results.append(run(job))
        except Exception as e:  # report every failure to the Rust side, keep going
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
