import { Command } from 'commander';

/**
 * A subcommand whose options after the first are declared only when it is dispatched (to run, or to show its
 * own help). `ca --help` lists the commands but needs none of their sixty-odd options, and declaring one
 * (parsing its flags into an Option) is a measurable part of the CLI's start. Help shown without a dispatch
 * (`ca help <command>`) declares them first. The first is declared at once,
 * so the command list shows `[options]` for the commands that have them, as it would otherwise.
 */
export class DeferredCommand extends Command {
  /** Declarations still to make; undefined once they are made (or for a command that declares at once). */
  private pending: (() => void)[] | undefined;

  constructor(name?: string, { eager = false }: { eager?: boolean } = {}) {
    super(name);
    this.pending = eager ? undefined : [];
    // a command's own subcommands are configured as it dispatches to one of them
    this.hook('preSubcommand', (_self, sub) => {
      if (sub instanceof DeferredCommand) sub.declarePending();
    });
  }

  override createCommand(name?: string): Command {
    return new DeferredCommand(name);
  }

  override option(flags: string, description?: string, ...rest: unknown[]): this {
    if (!this.pending || this.options.length === 0) return (super.option as (...a: unknown[]) => this)(flags, description, ...rest);
    this.pending.push(() => (super.option as (...a: unknown[]) => this)(flags, description, ...rest));
    return this;
  }

  /** `ca help <command>` shows a command's help without dispatching to it. */
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
