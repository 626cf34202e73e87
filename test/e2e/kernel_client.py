"""Drives a kernel through Jupyter's client protocol (Debian's python3-jupyter-client), for the kernel tests.

Reads {"kernel": name, "batches": [[{"code": str, "stop_on_error": bool, "delay_s": float}, ...], ...]} on stdin.
The requests of a batch are sent together, without waiting for replies (as JupyterLab's "run all" does), each after
its delay_s (default 0) from the one before; the next batch is sent
once every reply and every output of the previous one came back. Prints, for each request, its execute_reply
content and the iopub messages (type and content) that answered it, as JSON.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel


def main():
    spec = json.load(sys.stdin)
    km, kc = start_new_kernel(kernel_name=spec["kernel"], startup_timeout=120)
    results = []
    try:
        for batch in spec["batches"]:
            ids = []
            for r in batch:
                time.sleep(r.get("delay_s", 0))
                ids.append(kc.execute(r["code"], stop_on_error=r.get("stop_on_error", True)))
            replies = {}
            while len(replies) < len(ids):
                msg = kc.get_shell_msg(timeout=240)
                if msg["parent_header"].get("msg_id") in ids:
                    replies[msg["parent_header"]["msg_id"]] = msg["content"]
            iopub = {i: [] for i in ids}
            idle = set()
            while len(idle) < len(ids):
                msg = kc.get_iopub_msg(timeout=60)
                parent = msg["parent_header"].get("msg_id")
                if parent not in iopub:
                    continue
                if msg["msg_type"] == "status":
                    if msg["content"]["execution_state"] == "idle":
                        idle.add(parent)
                    continue
                iopub[parent].append({"msg_type": msg["msg_type"], "content": msg["content"]})
            results.extend({"reply": replies[i], "iopub": iopub[i]} for i in ids)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
