using Spectre.Console;

namespace Distillation.ConsoleOutput;

/// <summary>The programs' tables: Spectre tables whose cells are plain text (never markup: a class name may hold brackets).</summary>
internal static class ResultTable
{
    /// <summary>A table with these column headers; a header starting with <c>&gt;</c> is right-aligned (numbers), without it.</summary>
    public static Table Create(params string[] headers)
    {
        var table = new Table();
        foreach (var header in headers)
        {
            var right = header.StartsWith('>');
            var column = new TableColumn(new Text(right ? header[1..] : header)).NoWrap();
            table.AddColumn(right ? column.RightAligned() : column);
        }

        return table;
    }

    /// <summary>Adds a row of plain-text cells.</summary>
    public static Table AddTextRow(this Table table, params string[] cells) => table.AddRow(cells.Select(c => new Text(c)));
}
