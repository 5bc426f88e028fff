import { Command } from 'commander';

/**
 * A subcommand whose options after the first are declared only when it is about to be parsed (commander saves
 * a command's state, option defaults included, just before its first parse) or its help is shown. `ca --help`
 * lists the commands but needs none of their sixty-odd options, and declaring one (parsing its flags into an
 * Option) is a measurable part of the CLI's start. The first is declared at once, so the command list shows
 * `[options]` for the commands that have them, as it would otherwise.
 */
export class DeferredCommand extends Command {
  /** Declarations still to make; undefined once they are made (or for a command that declares at once). */
  private pending: (() => void)[] | undefined;

  constructor(name?: string, { eager = false }: { eager?: boolean } = {}) {
    super(name);
    this.pending = eager ? undefined : [];
  }

  override createCommand(name?: string): Command {
    return new DeferredCommand(name);
  }

  override option(flags: string, description?: string, ...rest: unknown[]): this {
    if (!this.pending || this.options.length === 0) return (super.option as (...a: unknown[]) => this)(flags, description, ...rest);
    this.pending.push(() => (super.option as (...a: unknown[]) => this)(flags, description, ...rest));
    return this;
  }

  /** Runs before the first parse of this command (dispatch included), so the saved state has every default. */
  override saveStateBeforeParse(): void {
    this.declarePending();
    super.saveStateBeforeParse();
  }

  /** `ca help <command>` shows a command's help without parsing it. */
  override helpInformation(context?: Parameters<Command['helpInformation']>[0]): string {
    this.declarePending();
    return super.helpInformation(context);
  }

  private declarePending(): void {
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const declare of pending) declare();
  }
}
