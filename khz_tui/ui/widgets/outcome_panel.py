"""How a run ended: the kubeconfig and the command to use it, or the failing step, why, and what to do."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from khz_tui.engine.events import ResourceDeleted
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_view import RunView

#: What `r` does after a failure of each mode: the same mode again, never another one.
RETRY_HINT = {
    "apply": "r applies again (continues from where it stopped)",
    "destroy": "r destroys again (deletes what is left)",
    "dry-run": "r asks again (a dry-run changes nothing)",
    "verify": "r verifies again (changes nothing)",
}


class OutcomePanel(Static):
    DEFAULT_CSS = """
    OutcomePanel { display: none; height: auto; padding: 0 1; border: heavy $success; }
    OutcomePanel.-shown { display: block; }
    OutcomePanel.-failed { border: heavy $error; }
    """

    def show(self, view: RunView) -> None:
        """The end of the run in `view` (which has finished): what it made, or where it failed and what to do."""
        finished = view.finished
        assert finished is not None, "the outcome of a run that has not finished"
        succeeded = finished.outcome is Outcome.SUCCEEDED
        text = Text()
        if succeeded:
            text.append(f"✓ {finished.message}", style="bold")
            if finished.mode == "destroy":
                # Nodes are never Ready after a destroy: count what was deleted instead.
                text.append(f"  ({deleted_summary(view.deleted)})")
            elif finished.mode == "dry-run":
                text.append("  (nothing was changed; the log lists each change)")
            elif finished.nodes_total:
                text.append(f"  ({finished.nodes_ready}/{finished.nodes_total} nodes Ready)")
            kubeconfig = view.kubeconfig
            if kubeconfig is not None:
                # The command first: a short terminal shows the outcome's first lines only.
                text.append("\nUse it:  ")
                text.append(kubeconfig.command, style="bold")
                text.append("   (c sends it to the clipboard)", style="dim")
                text.append(f"\nkubeconfig: {kubeconfig.path}  (context {kubeconfig.context})")
        else:
            failed = view.failed_step
            step_name = finished.failed_step or (failed.step if failed else None)
            step = f" at step {step_name}" if step_name else ""
            text.append(f"✗ {finished.mode} failed{step}: ", style="bold")
            text.append(finished.message)
            if failed is not None and failed.message not in finished.message:
                text.append(f"\n{failed.title}: {failed.message}")
            hint = finished.hint or (failed.hint if failed else "")
            if hint:
                text.append(f"\nHint: {hint}")
            from khz_tui.ui.wizard_fields import FAILED_STEP_FIELDS

            way_out = f"e opens {FAILED_STEP_FIELDS[step_name]} in the wizard · " if step_name in FAILED_STEP_FIELDS else ""
            text.append(f"\n{way_out}{RETRY_HINT.get(finished.mode, 'r retries')} · D destroys the cluster", style="bold")
        self.update(text)
        self.set_class(True, "-shown")
        self.set_class(not succeeded, "-failed")


def deleted_summary(deleted: Sequence[ResourceDeleted]) -> str:
    """`3 servers, 1 network deleted`, in the order the engine deleted them."""
    if not deleted:
        return "nothing was left to delete"
    counts: dict[str, int] = {}
    for event in deleted:
        counts[event.resource_type] = counts.get(event.resource_type, 0) + 1
    return ", ".join(f"{n} {kind.replace('_', ' ')}{'s' if n != 1 else ''}" for kind, n in counts.items()) + " deleted"
