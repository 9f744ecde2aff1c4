namespace Distillation.Models.Tests.Docs;

/// <summary>
/// Every C# block in README.md, docs/*.md and the package READMEs (src/*/README.md) marked <c>&lt;!-- compiled: Name --&gt;</c> is the text of a
/// region <c>// docs:begin Name</c> … <c>// docs:end Name</c> in a test source file (its common
/// indentation removed), which its test project compiles and a test runs, so a documented example
/// cannot drift from the API.
/// </summary>
public sealed class DocSnippetTests
{
    private const string Marker = "<!-- compiled: ";

    [Fact]
    public void Every_block_marked_compiled_is_a_region_of_compiled_test_code()
    {
        var root = RepositoryRoot();
        var regions = Regions(root);
        var pages = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md"))
            .Concat(Directory.GetDirectories(Path.Combine(root, "src")).Select(p => Path.Combine(p, "README.md")).Where(File.Exists));
        var checkedBlocks = new List<string>();
        foreach (var page in pages)
        {
            foreach (var (name, block) in MarkedBlocks(page))
            {
                var where = $"{Path.GetRelativePath(root, page)} block '{name}'";
                regions.Should().ContainKey(name, $"{where} names a region // docs:begin {name} in tests/");
                block.Should().Be(regions[name], $"{where} should be the compiled region verbatim");
                checkedBlocks.Add(name);
            }
        }

        // The README's example is among them; without this the test would pass on a README with no marker.
        checkedBlocks.Should().Contain("ReadmeExampleTests");
        checkedBlocks.Should().Contain("TeacherPageKind");
    }

    [Fact]
    public void A_region_loses_its_common_indentation_only()
    {
        Dedent(["        if (x)", "        {", "", "            y();", "        }"]).Should().Be("if (x)\n{\n\n    y();\n}\n");
    }

    [Fact]
    public void A_marked_block_is_read_up_to_its_closing_fence()
    {
        var page = Path.Combine(Path.GetTempPath(), $"doc-snippet-{Guid.NewGuid():N}.md");
        File.WriteAllText(page, "text\n<!-- compiled: X -->\n```csharp\nvar a = 1;\n\nvar b = 2;\n```\nafter\n");
        try
        {
            MarkedBlocks(page).Should().Equal(("X", "var a = 1;\n\nvar b = 2;\n"));
        }
        finally
        {
            File.Delete(page);
        }
    }

    // The block under each marker: the lines between the ```csharp fence and the closing ```.
    internal static IEnumerable<(string Name, string Block)> MarkedBlocks(string page)
    {
        var lines = File.ReadAllText(page).ReplaceLineEndings("\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith(Marker, StringComparison.Ordinal))
            {
                continue;
            }

            var name = lines[i][Marker.Length..].Replace("-->", "", StringComparison.Ordinal).Trim();
            var open = i + 1;
            if (open >= lines.Length || lines[open].Trim() != "```csharp")
            {
                throw new InvalidOperationException($"{page}:{i + 1}: the compiled marker '{name}' is not followed by a ```csharp block.");
            }

            var close = Array.FindIndex(lines, open + 1, l => l.TrimEnd() == "```");
            if (close < 0)
            {
                throw new InvalidOperationException($"{page}:{i + 1}: the block '{name}' has no closing fence.");
            }

            yield return (name, string.Concat(lines[(open + 1)..close].Select(l => l + "\n")));
        }
    }

    private static Dictionary<string, string> Regions(string root)
    {
        var regions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "tests"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            // A region starts and ends on lines of their own, indented or not: "// docs:begin Name" … "// docs:end Name".
            var lines = File.ReadAllText(file).ReplaceLineEndings("\n").Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                const string Begin = "// docs:begin ";
                var line = lines[i].TrimStart();
                if (!line.StartsWith(Begin, StringComparison.Ordinal))
                {
                    continue;
                }

                var name = line[Begin.Length..].Trim();
                var end = Array.FindIndex(lines, i + 1, l => l.Trim() == $"// docs:end {name}");
                if (end < 0)
                {
                    throw new InvalidOperationException($"{file}:{i + 1}: the region '{name}' has no // docs:end line.");
                }

                regions[name] = Dedent(lines[(i + 1)..end]);
            }
        }

        return regions;
    }

    // A region inside a method is indented; the page shows it without the common indentation.
    internal static string Dedent(string[] lines)
    {
        var indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart(' ').Length).DefaultIfEmpty(0).Min();
        return string.Concat(lines.Select(l => (l.Trim().Length == 0 ? "" : l[indent..]) + "\n"));
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Distillation.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Distillation.sln) was not found above " + AppContext.BaseDirectory);
    }
}
