import type { Reporter, TestCase } from 'vitest/node';

/** Prints one closing line, `N passed, N failed, N skipped`, that CI and people can read at a glance. */
export default class SummaryReporter implements Reporter {
  private passed = 0;
  private failed = 0;
  private skipped = 0;

  onTestCaseResult(test: TestCase): void {
    const s = test.result().state;
    if (s === 'passed') this.passed++;
    else if (s === 'failed') this.failed++;
    else this.skipped++;
  }

  onTestRunEnd(_modules: unknown, errors: readonly unknown[]): void {
    // an error outside any test (a failing setup, an unhandled rejection) counts as a failure
    const failed = this.failed + (errors?.length ?? 0);
    process.stdout.write(`\n${this.passed} passed, ${failed} failed, ${this.skipped} skipped\n`);
  }
}
