package roomreport

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/width"
)

// WriteTable writes the report as a table: a line naming the replica and
// its broker connections, then one row per room.
func WriteTable(w io.Writer, rep Report) error {
	fmt.Fprintf(w, "replica %s\n", orDash(rep.Replica.ID))
	for _, c := range rep.Replica.Connections {
		fmt.Fprintf(w, "  %-10s %s\n", c.Protocol, c.Name)
	}
	rateHead := "MSG/S"
	if rep.Interval > 0 {
		rateHead = "MSG/S (" + rep.Interval.Round(100*time.Millisecond).String() + ")"
	}
	rows := [][]string{{"ID", "NAME", "STREAM", "ONLINE", "MESSAGES", rateHead}}
	for _, r := range rep.Rooms {
		name := r.Name
		if r.Private {
			name += " (private)"
		}
		messages, rate := "-", "-"
		if r.Messages != nil {
			messages = strconv.FormatInt(*r.Messages, 10)
		}
		if r.Rate != nil {
			rate = strconv.FormatFloat(*r.Rate, 'f', 1, 64)
		}
		rows = append(rows, []string{r.ID, clean(name), orDash(r.Stream), strconv.Itoa(r.Online), messages, rate})
	}
	fmt.Fprintln(w)
	if err := writeColumns(w, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d rooms\n", len(rep.Rooms))
	return err
}

// clean keeps a room name on its cell: tabs and line breaks would break
// the table (names are printable, but a tab is).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeColumns writes rows as columns two spaces apart, padded by the
// width a terminal gives each character: Hangul and other wide
// characters take two columns (text/tabwriter counts them as one).
func writeColumns(w io.Writer, rows [][]string) error {
	widths := map[int]int{}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
