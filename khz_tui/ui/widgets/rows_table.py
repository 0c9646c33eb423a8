"""A table of plan entries (worker pools, volumes) edited in place: add, edit, remove."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable


class RowsTable(DataTable):
    """Holds a list of plain dicts; a dialog edits one at a time. Subclasses name columns and the dialog."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    BINDINGS = [
        Binding("a,insert", "add_row", "Add"),
        Binding("e", "edit_row", "Edit"),
        Binding("x,delete", "remove_row", "Remove"),
    ]

    class RowsChanged(Message):
        """The list of entries was edited."""

        def __init__(self, table: "RowsTable") -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> "RowsTable":
            return self.table

    def __init__(self, rows: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_data = [dict(r) for r in rows]

    def on_mount(self) -> None:
        self.add_columns(*self.COLUMNS)
        self._refill()

    # -- for subclasses ---------------------------------------------------------------------------

    def cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def new_row(self) -> dict[str, Any]:
        raise NotImplementedError

    def dialog(self, row: dict[str, Any], title: str) -> ModalScreen[dict[str, Any] | None]:
        raise NotImplementedError

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

        self.app.push_screen(self.dialog(self.new_row(), "Add"), added)

    def action_edit_row(self) -> None:
        if not self.rows_data:
            self.action_add_row()
            return
        index = self.cursor_row

        def edited(row: dict[str, Any] | None) -> None:
            if row is not None:
                self.rows_data[index] = row
                self._changed()

        self.app.push_screen(self.dialog(self.rows_data[index], "Edit"), edited)

    def action_remove_row(self) -> None:
        if self.rows_data:
            del self.rows_data[self.cursor_row]
            self._changed()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit_row()
