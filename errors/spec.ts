/** One entry of the error catalogue: what a caller sees for a refusal. */
export interface ErrorSpec {
  /** HTTP status the provisioner answers with (brokers map codes to CONNACK/SUBACK themselves). */
  readonly status: number;
  /** Text for a person. Never carries secrets or attacker-useful detail: causes go to the log. */
  readonly message: string;
}

export type ErrorSection = Readonly<Record<string, ErrorSpec>>;
