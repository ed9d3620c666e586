export type ModelStatus = 'HEALTHY' | 'DEGRADED' | 'OPEN_CIRCUIT';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses before it lets one trial request through (half-open). */
  cooldownMs: number;
  /** Milliseconds since the epoch; the service's clock, which tests move. */
  now: () => number;
}

interface CircuitState {
  consecutiveFailures: number;
  /** When the circuit opened; undefined while closed. */
  openedAt: number | undefined;
  /** A half-open circuit lets one request through at a time; the others keep going elsewhere. */
  trialInFlight: boolean;
}

/**
 * One circuit per provider and model, in this process: a model that keeps failing is skipped (its requests go to the
 * fallback straight away) until the cool-down has passed, then one request tries it again, and its outcome closes or
 * re-opens the circuit.
 */
export class CircuitBreakers {
  private readonly circuits = new Map<string, CircuitState>();

  constructor(private readonly options: CircuitBreakerOptions) {}

  private circuit(key: string): CircuitState {
    let state = this.circuits.get(key);
    if (!state) {
      state = { consecutiveFailures: 0, openedAt: undefined, trialInFlight: false };
      this.circuits.set(key, state);
    }
    return state;
  }

  private coolingDown(state: CircuitState): boolean {
    return state.openedAt !== undefined && this.options.now() - state.openedAt < this.options.cooldownMs;
  }

  /** Whether a request may go to `key` now; a half-open circuit admits one and counts it as the trial. */
  tryAcquire(key: string): boolean {
    const state = this.circuit(key);
    if (state.openedAt === undefined) return true;
    if (this.coolingDown(state) || state.trialInFlight) return false;
    state.trialInFlight = true;
    return true;
  }

  /** A request that ended neither way (the caller went away, the provider refused the input) frees the trial. */
  release(key: string): void {
    this.circuit(key).trialInFlight = false;
  }

  recordSuccess(key: string): void {
    const state = this.circuit(key);
    state.consecutiveFailures = 0;
    state.openedAt = undefined;
    state.trialInFlight = false;
  }

  recordFailure(key: string): void {
    const state = this.circuit(key);
    state.consecutiveFailures += 1;
    state.trialInFlight = false;
    // A failed trial re-opens at once; a closed circuit opens at the threshold.
    if (state.openedAt !== undefined || state.consecutiveFailures >= this.options.failureThreshold) state.openedAt = this.options.now();
  }

  /** Whether the circuit is open: a retry loop stops at once rather than spend its remaining attempts. */
  isOpen(key: string): boolean {
    return this.circuit(key).openedAt !== undefined;
  }

  status(key: string): ModelStatus {
    const state = this.circuits.get(key);
    if (!state || state.consecutiveFailures === 0) return 'HEALTHY';
    if (this.coolingDown(state)) return 'OPEN_CIRCUIT';
    return 'DEGRADED';
  }
}
