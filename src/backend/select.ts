// The selection rule, free of tfjs and of the machine: probe candidates in order, activate the first that
// works (or the one asked for by name), and report why each other one was not chosen.
import { ArgumentError, BackendUnavailableError } from "../errors";
import { BACKEND_ORDER, type BackendCandidate, type BackendName, type CandidateReport, type SelectionReport } from "./types";

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_ORDER as readonly string[]).includes(name);
}

export function checkBackendName(name: string, argument: string): BackendName {
  if (!isBackendName(name)) {
    throw new ArgumentError(argument, `is "${name}"`, `use one of ${BACKEND_ORDER.map((b) => `"${b}"`).join(", ")}`);
  }
  return name;
}

export interface SelectOptions {
  /** A backend asked for by name: no fallback, a typed error when it cannot start. */
  requested?: BackendName;
  via?: SelectionReport["via"];
  /** Probe every candidate even after one was chosen (doctor), instead of marking the rest "skipped". */
  probeAll?: boolean;
}

function message(err: unknown): string {
  return String((err as Error)?.message ?? err).split("\n")[0];
}

export async function selectBackend(candidates: readonly BackendCandidate[], options: SelectOptions = {}): Promise<SelectionReport> {
  const ordered = [...candidates].sort((a, b) => BACKEND_ORDER.indexOf(a.name) - BACKEND_ORDER.indexOf(b.name));
  const reports: CandidateReport[] = [];
  let chosen: BackendName | null = null;

  for (const candidate of ordered) {
    const wanted = options.requested ? candidate.name === options.requested : chosen === null;
    if (!wanted && !options.probeAll) {
      reports.push({ name: candidate.name, status: "skipped", available: false, reason: options.requested ? `not requested (${options.requested} was)` : `not probed: ${chosen} was chosen first` });
      continue;
    }
    let probe;
    try {
      probe = await candidate.probe();
    } catch (err) {
      probe = { available: false, reason: `probe failed: ${message(err)}` };
    }
    const usable = probe.available || (options.requested === candidate.name && probe.usableOnRequest === true);
    if (!wanted || !usable) {
      const status = !usable ? "unavailable" : "available";
      const reason = status === "available" && chosen ? `${probe.reason} (${chosen} ranks higher)` : probe.reason;
      reports.push({ ...probe, name: candidate.name, status, reason });
      if (options.requested === candidate.name) throw new BackendUnavailableError(candidate.name, probe.reason);
      continue;
    }
    try {
      await candidate.activate();
      chosen = candidate.name;
      reports.push({ ...probe, name: candidate.name, status: "chosen" });
    } catch (err) {
      reports.push({ ...probe, name: candidate.name, status: "failed", available: false, reason: `found but failed to start: ${message(err)}` });
      if (options.requested === candidate.name) throw new BackendUnavailableError(candidate.name, `it failed to start: ${message(err)}`);
    }
  }
  if (options.requested && !candidates.some((c) => c.name === options.requested)) {
    throw new BackendUnavailableError(options.requested, "it is not among the candidates");
  }
  if (chosen === null) {
    throw new BackendUnavailableError("any", reports.map((r) => `${r.name}: ${r.reason}`).join("; "), "reinstall lmprobe's dependencies (npm ci)");
  }
  return { chosen, via: options.via ?? (options.requested ? "setBackend()" : "auto"), candidates: reports };
}
