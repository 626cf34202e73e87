// Runs a command in its own process group with a wall-clock limit. At the limit it names the processes still
// running in the group (so a hung test file shows up in CI's log by name), then kills the whole group with SIGKILL.
// Why the group: Node's test runner runs each test file as a grandchild; killing only the child can leave a
// grandchild holding the output pipe open, and a spawnSync waiting on that pipe never returns.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** The processes of group `pgid` as "pid  seconds  command line", from /proc (Linux; elsewhere an empty list). */
export function groupProcesses(pgid) {
  let pids;
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const ticks = 100; // USER_HZ on Linux
  let uptime = 0;
  try {
    uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  } catch {}
  const lines = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command's closing parenthesis: state ppid pgrp ... (starttime is field 22 overall).
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[2]) !== pgid) continue;
      const started = Number(rest[19]) / ticks;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      if (cmd === "") continue; // a process exiting (a zombie) has no command line left
      lines.push(`${pid}  ${Math.round(uptime - started)} s  ${cmd.slice(0, 300)}`);
    } catch {}
  }
  return lines;
}

/**
 * Spawns `command args` as the leader of a new process group. `capture`: collect stdout and stderr (else they are
 * inherited). Resolves to { status, signal, output, timedOut }; at `timeoutMs` the group is listed on stderr under
 * `label` and killed.
 */
export function runInGroup(command, args, { cwd, env, timeoutMs, capture = false, label = "command" }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit" });
    let output = "";
    if (capture) {
      child.stdout.setEncoding("utf8").on("data", (s) => (output += s));
      child.stderr.setEncoding("utf8").on("data", (s) => (output += s));
    }
    let timedOut = false;
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    };
    const timer = setTimeout(() => {
      timedOut = true;
      const running = groupProcesses(child.pid);
      process.stderr.write(
        `\n${label} ran past its ${Math.round(timeoutMs / 1000)} s limit; still running (pid, age, command):\n${running.map((l) => `  ${l}`).join("\n") || "  (none listed)"}\nkilling the process group\n`,
      );
      killGroup("SIGKILL");
    }, timeoutMs);
    const forward = (signal) => killGroup(signal);
    process.on("SIGINT", forward).on("SIGTERM", forward);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      process.off("SIGINT", forward).off("SIGTERM", forward);
      resolve({ status, signal, output, timedOut });
    });
  });
}
