import { DEVICE_TRANSITIONS, type DeviceState, isAllowedTransition, parseDeviceStatus } from '@app/meter-sdk';

/**
 * The device states of the paper's Fig. 4 (normal, alarm, emergency, outage, repair) followed from
 * the statuses a device reports. The allowed transitions are the meter SDK's DEVICE_TRANSITIONS: the
 * status format and its state machine are one contract between the devices and their supplier, so
 * they are defined once, where the devices report from.
 *
 * What the supplier adds is reading the silences. A device in an outage sends nothing, so the
 * supplier sees "emergency", then nothing, then "repair": silence right after an emergency (or a
 * reported outage) that ends in a state reachable from an outage is an inferred outage, and counts
 * as outage time. Any other silence is a data gap: across it, a change of state is accepted when the
 * states needed in between fit in the silent intervals (each marked inferred), and reported as
 * impossible when they do not. A jump between consecutive intervals that Fig. 4 forbids is reported,
 * never silently accepted; the device's state then follows the observation.
 */

export interface StatusObservation {
  /** Start of the interval the status describes, ms since the epoch. */
  at: number;
  /** The device_status dimension: "normal" or "<state>:<code>". */
  status: string;
}

export interface StateSegment {
  state: DeviceState;
  /** The cause the device reported (FAULT_CODES, W01); absent for normal. */
  code?: string;
  /** [from, to), ms. */
  from: number;
  to: number;
  /** True for an outage inferred from a silence. */
  inferred: boolean;
}

export interface DeviceTransition {
  at: number;
  from: DeviceState;
  to: DeviceState;
  code?: string;
  /** True when the device did not report the transition itself (it lies in a silence). */
  inferred: boolean;
}

export interface ImpossibleTransition {
  at: number;
  previousAt: number;
  from: DeviceState;
  to: DeviceState;
  reason: string;
}

export interface DeviceTimeline {
  deviceId: string;
  intervalMs: number;
  segments: StateSegment[];
  transitions: DeviceTransition[];
  impossible: ImpossibleTransition[];
  /** Statuses that do not parse: left out, listed. */
  malformed: Array<{ at: number; status: string; reason: string }>;
  /** Silences not attributed to any state, [from, to). */
  unobserved: Array<{ from: number; to: number }>;
  /** Repeated intervals (the first report is kept). */
  duplicates: number;
}

/** Shortest path of intermediate states from one state to another, within a budget; undefined if none. */
function intermediates(from: DeviceState, to: DeviceState, budget: number): DeviceState[] | undefined {
  // Breadth-first over Fig. 4, neighbours in DEVICE_TRANSITIONS order: deterministic.
  const previous = new Map<DeviceState, DeviceState>([[from, from]]);
  let frontier: DeviceState[] = [from];
  for (let depth = 0; depth <= budget && frontier.length > 0; depth++) {
    const next: DeviceState[] = [];
    for (const state of frontier) {
      for (const neighbour of DEVICE_TRANSITIONS[state]) {
        if (neighbour === to) {
          const path: DeviceState[] = [];
          for (let at = state; at !== from; at = previous.get(at) as DeviceState) {
            path.unshift(at);
          }
          return path;
        }
        if (!previous.has(neighbour)) {
          previous.set(neighbour, state);
          next.push(neighbour);
        }
      }
    }
    frontier = next;
  }
  return undefined;
}

interface Bridge {
  /** States passed through between the two observations (transitions inferred). */
  path: DeviceState[];
  /** The state the silent intervals are attributed to, or null for a data gap. */
  silentState: DeviceState | null;
}

/** How a device got from one observed state to the next across `silent` unreported intervals. */
export function bridgeStates(from: DeviceState, to: DeviceState, silent: number): Bridge | undefined {
  if (silent === 0) {
    return isAllowedTransition(from, to) ? { path: [], silentState: null } : undefined;
  }
  if (from === to) {
    return { path: [], silentState: null };
  }
  if (from === 'emergency' || from === 'outage') {
    // The device tripped (or had): the silence is its outage, then whatever leads on to the observed
    // state, in as many steps as fit in the silent intervals after the first.
    const after = to === 'outage' ? [] : intermediates('outage', to, silent - 1);
    if (after !== undefined) {
      const path = to === 'outage' || from === 'outage' ? after : ['outage' as const, ...after];
      return { path, silentState: 'outage' };
    }
  }
  const path = intermediates(from, to, silent);
  return path === undefined ? undefined : { path, silentState: null };
}

/** Follows one device's reported statuses (any order, repeats allowed) through Fig. 4. */
export function trackDeviceStates(
  deviceId: string,
  observations: readonly StatusObservation[],
  intervalMs: number,
): DeviceTimeline {
  if (!Number.isInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError('intervalMs is a positive whole number of ms');
  }
  const timeline: DeviceTimeline = {
    deviceId,
    intervalMs,
    segments: [],
    transitions: [],
    impossible: [],
    malformed: [],
    unobserved: [],
    duplicates: 0,
  };
  const seen = new Set<number>();
  const parsed: Array<{ at: number; state: DeviceState; code?: string }> = [];
  for (const observation of observations) {
    const at = Math.floor(observation.at / intervalMs) * intervalMs;
    if (seen.has(at)) {
      timeline.duplicates += 1;
      continue;
    }
    seen.add(at);
    try {
      parsed.push({ at, ...parseDeviceStatus(observation.status) });
    } catch (error) {
      timeline.malformed.push({
        at,
        status: observation.status,
        reason: error instanceof Error ? error.message : 'unreadable status',
      });
    }
  }
  parsed.sort((x, y) => x.at - y.at);

  const extend = (
    state: DeviceState,
    code: string | undefined,
    from: number,
    to: number,
    inferred: boolean,
  ) => {
    const last = timeline.segments[timeline.segments.length - 1];
    if (
      last &&
      last.state === state &&
      last.code === code &&
      last.to === from &&
      last.inferred === inferred
    ) {
      last.to = to;
      return;
    }
    timeline.segments.push({ state, ...(code === undefined ? {} : { code }), from, to, inferred });
  };
  const transition = (
    at: number,
    from: DeviceState,
    to: DeviceState,
    code: string | undefined,
    inferred: boolean,
  ) => {
    timeline.transitions.push({ at, from, to, ...(code === undefined ? {} : { code }), inferred });
  };

  let previous: (typeof parsed)[number] | undefined;
  for (const current of parsed) {
    if (previous === undefined) {
      extend(current.state, current.code, current.at, current.at + intervalMs, false);
      previous = current;
      continue;
    }
    const gapFrom = previous.at + intervalMs;
    const silent = (current.at - gapFrom) / intervalMs;
    const bridge = bridgeStates(previous.state, current.state, silent);
    if (bridge === undefined) {
      timeline.impossible.push({
        at: current.at,
        previousAt: previous.at,
        from: previous.state,
        to: current.state,
        reason:
          silent === 0
            ? `Fig. 4 has no transition ${previous.state} -> ${current.state}`
            : `${previous.state} cannot reach ${current.state} in ${silent} unreported intervals`,
      });
      if (silent > 0) {
        timeline.unobserved.push({ from: gapFrom, to: current.at });
      }
    } else {
      let state = previous.state;
      // The episode's cause carries over to the states the device did not report itself.
      const code = previous.code ?? current.code;
      if (bridge.silentState !== null) {
        if (bridge.silentState !== state) {
          transition(gapFrom, state, bridge.silentState, code, true);
          state = bridge.silentState;
        }
        extend(state, code, gapFrom, current.at, true);
      } else if (silent > 0) {
        timeline.unobserved.push({ from: gapFrom, to: current.at });
      }
      for (const through of bridge.path) {
        if (through !== state) {
          transition(current.at, state, through, code, true);
          state = through;
        }
      }
      if (state !== current.state) {
        transition(
          current.at,
          state,
          current.state,
          current.code,
          bridge.path.length > 0 || bridge.silentState !== null,
        );
      }
    }
    extend(current.state, current.code, current.at, current.at + intervalMs, false);
    previous = current;
  }
  return timeline;
}
