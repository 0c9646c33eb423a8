"""A table of plan entries (worker pools, volumes) edited in place: add, edit, remove."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from khz_tui.ui.draft import owns

if TYPE_CHECKING:
    from khz_tui.plan.checks import Problem
    from khz_tui.ui.app import KhzApp
    from khz_tui.ui.dialogs.entry_dialog import EntryDialog


class RowsTable(DataTable[str]):
    """Holds a list of plain dicts; a dialog edits one at a time. Subclasses name columns and the dialog."""

    app: KhzApp

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    #: The plan key of the list (`worker_pools`), and what one entry is called (`pool`).
    PATH: ClassVar[str] = ""
    NOUN: ClassVar[str] = "entry"
    BINDINGS = [
        Binding("a,insert", "add_row", "Add"),
        Binding("e", "edit_row", "Edit"),
        Binding("x,delete", "remove_row", "Remove"),
        Binding("u", "undo_remove", "Undo remove"),
    ]

    class RowsChanged(Message):
        """The list of entries was edited."""

        def __init__(self, table: RowsTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> RowsTable:
            return self.table

    def __init__(self, rows: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_data = [dict(r) for r in rows]
        self._removed: tuple[int, dict[str, Any]] | None = None
        """The last entry removed and where it was, for `u`."""

    def on_mount(self) -> None:
        self.add_columns(*self.COLUMNS)
        self._refill()

    # -- for subclasses ---------------------------------------------------------------------------

    def cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def new_row(self) -> dict[str, Any]:
        raise NotImplementedError

    def dialog(self, row: dict[str, Any], title: str) -> EntryDialog:
        raise NotImplementedError

    def _checked_dialog(self, row: dict[str, Any], title: str, index: int | None) -> EntryDialog:
        """The entry's dialog, told how to check an entry at `index` (None: a new one) as fields change."""
        dialog = self.dialog(row, title)
        dialog.check = lambda entry: self.entry_problems(entry, index)
        return dialog

    def entry_problems(self, entry: dict[str, Any], index: int | None) -> list[Problem]:
        """The plan's problems with `entry` in place at `index` (appended when None), on paths such as
        `worker_pools.name` (the dialog's fields), the rest of the plan as the wizard holds it."""
        from khz_tui.plan.catalog import bundled_catalog
        from khz_tui.plan.checks import Problem, validate_data

        draft = self.app.draft
        rows = [dict(r) for r in self.rows_data]
        at = len(rows) if index is None else index
        rows[at:at + 1] = [entry]
        data = copy.deepcopy(draft.data)
        node = data
        *parents, leaf = self.PATH.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = rows
        _plan, problems = validate_data(data, bundled_catalog())
        prefix = f"{self.PATH}[{at}]"
        return [Problem(self.PATH + p.path[len(prefix):], p.message, None, p.severity)
                for p in problems if owns((prefix,), p.path)]

    # -- editing ----------------------------------------------------------------------------------

    def free_name(self, prefix: str) -> str:
        """`prefix-N` with the lowest N no row's name has taken, for a new row."""
        taken = {r.get("name") for r in self.rows_data}
        return next(f"{prefix}-{i}" for i in range(1, len(taken) + 2) if f"{prefix}-{i}" not in taken)

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows_data = [dict(r) for r in rows]
        self._refill()

    def _refill(self) -> None:
        at = self.cursor_row
        self.clear()
        for row in self.rows_data:
            self.add_row(*self.cells(row))
        if self.rows_data:
            self.move_cursor(row=min(max(at, 0), len(self.rows_data) - 1))

    def _changed(self) -> None:
        self._refill()
        self.post_message(self.RowsChanged(self))

    def action_add_row(self) -> None:
        def added(row: dict[str, Any] | None) -> None:
            if row is not None:
                self.rows_data.append(row)
                self._changed()
                self.move_cursor(row=len(self.rows_data) - 1)

        self.app.push_screen(self._checked_dialog(self.new_row(), "Add", None), added)

    def action_edit_row(self) -> None:
        if not self.rows_data:
            self.action_add_row()
            return
        index = self.cursor_row

        def edited(row: dict[str, Any] | None) -> None:
            if row is not None:
                self.rows_data[index] = row
                self._changed()

        self.app.push_screen(self._checked_dialog(self.rows_data[index], "Edit", index), edited)

    def action_remove_row(self) -> None:
        """Remove the highlighted entry; `u` puts it back (nothing is lost to a stray key)."""
        if not self.rows_data:
            return
        at = self.cursor_row
        self._removed = (at, self.rows_data.pop(at))
        self._changed()
        name = self._removed[1].get("name") or f"{self.NOUN} {at + 1}"
        self.notify(f"Removed {self.NOUN} {name!r} · u puts it back", title="Removed")
        self.refresh_bindings()

    def action_undo_remove(self) -> None:
        if self._removed is None:
            return
        at, row = self._removed
        self._removed = None
        at = min(at, len(self.rows_data))
        self.rows_data.insert(at, row)
        self._changed()
        self.move_cursor(row=at)
        self.notify(f"{self.NOUN.capitalize()} {row.get('name', '')!r} is back")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "undo_remove":
            return self._removed is not None
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit_row()
