package roomreport

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
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
		rateHead = "MSG/S (" + rep.Interval.Round(100*1e6).String() + ")"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nID\tNAME\tSTREAM\tONLINE\tMESSAGES\t%s\n", rateHead)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, clean(name), orDash(r.Stream), r.Online, messages, rate)
	}
	if err := tw.Flush(); err != nil {
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
