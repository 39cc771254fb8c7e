package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const analystsPage = "# Page\n\nA table's own example:\n\n```sql\nINSERT INTO x VALUES (1);\nSELECT 1;\n```\n\n" +
	"**1. How many people?** Some words.\n\n```sql\nSELECT count(*) FROM v_contact_360;\n```\n\n" +
	"**2. Daily volume | Thai days.**\n\n```sql\nSET TIME ZONE 'Asia/Bangkok';\nSELECT * FROM v_daily_messages;\n```\n\n" +
	"To see what is pinned:\n\n```sql\nSELECT * FROM contact_overrides;\n```\n"

func TestAnalystExamples(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"`INSERT INTO x VALUES (1)`", "1. How many people?", "2. Daily volume | Thai days.", "`SELECT * FROM contact_overrides`"},
		analystExamples(analystsPage))
}

// Every block of the real page gets a name, as many as the benchmark times.
func TestAnalystExamples_docsPage(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../" + analystsDoc)
	require.NoError(t, err)
	names := analystExamples(string(doc))
	require.Len(t, names, len(sqlBlock.FindAllString(string(doc), -1)))
	require.Contains(t, names, "1. How many people do we have, and on how many platforms is each?")
}

func TestAnalystRows(t *testing.T) {
	t.Parallel()
	line := "BenchmarkAnalystExamples-2 1 9 ns/op 3.5 block01_ms 4.1 block01_jit_ms 2 block01_rows " +
		"1200 block02_ms 2500 block02_jit_ms 7 block02_rows 0.4 block03_ms 0.5 block03_jit_ms 0 block03_rows " +
		"12 block04_ms 13 block04_jit_ms 5 block04_rows\n"
	rs, err := Parse(strings.NewReader(line))
	require.NoError(t, err)

	rows, err := analystRows(rs, analystsPage)
	require.NoError(t, err)
	require.Equal(t, []AnalystRow{
		{Example: "`INSERT INTO x VALUES (1)`", Rows: 2, MS: 3.5, JitMS: 4.1, Verdict: verdictMet},
		{Example: "1. How many people?", Rows: 7, MS: 1200, JitMS: 2500, Verdict: verdictMissed},
		{Example: "2. Daily volume | Thai days.", Rows: 0, MS: 0.4, JitMS: 0.5, Verdict: verdictMet},
		{Example: "`SELECT * FROM contact_overrides`", Rows: 5, MS: 12, JitMS: 13, Verdict: verdictMet},
	}, rows)

	md := analystsMarkdown(rows, 1_000_000)
	for _, want := range []string{
		"## Analyst examples at 1,000,000 identities\n",
		"| 1. How many people? | 7 | 1.20 s | 2.50 s | < 1 s | **NOT MET** |\n",
		"| 2. Daily volume \\| Thai days. | 0 | 0 ms | 0 ms | < 1 s | met |\n",
	} {
		require.Contains(t, md, want)
	}

	_, err = analystRows(rs, analystsPage+"\n**5. One more.**\n\n```sql\nSELECT 5;\n```\n")
	require.ErrorContains(t, err, `benchmark BenchmarkAnalystExamples reported no "block05_ms" metric`)
}
