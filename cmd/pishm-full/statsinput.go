package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/cmd/internal/filestats"
	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/cmd/internal/textcol"
)

// decoders are the compressed formats pishm stats reads through.
var decoders = map[floatfile.Format]source.Decoder{
	floatfile.Gzip: func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) },
	floatfile.Zstd: func(r io.Reader) (io.ReadCloser, error) {
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	},
}

// textOptions reads the text flags of pishm stats.
func textOptions(cols, sep string, header, noHeader, strict bool) (filestats.TextOptions, error) {
	var o filestats.TextOptions
	if header && noHeader {
		return o, cli.Usagef("-header and -no-header: give one")
	}
	switch {
	case header:
		o.Header = 1
	case noHeader:
		o.Header = -1
	}
	if sep != "" {
		b, ok := textcol.ParseSep(sep)
		if !ok {
			return o, cli.Usagef("-sep: want one character, tab or blanks, got %q", sep)
		}
		o.Sep = b
	}
	if cols != "" {
		for _, c := range strings.Split(cols, ",") {
			if c = strings.TrimSpace(c); c == "" {
				return o, cli.Usagef("-col: an empty column in %q", cols)
			}
			o.Cols = append(o.Cols, c)
		}
		if len(o.Cols) > filestats.MaxColumns {
			return o, cli.Usagef("-col: %d columns, at most %d", len(o.Cols), filestats.MaxColumns)
		}
	}
	o.Strict, o.ColsFlag = strict, cols
	return o, nil
}

// sniff tells what *src holds; compressed input is decompressed into
// memory and *src replaced by it (the old one closed). With raw set (the
// user said -type), a file is raw unless it is .npy.
func sniff(ctx context.Context, src **source.Source, raw bool) (floatfile.Format, error) {
	s := *src
	if s.Size == 0 {
		what := "is empty"
		if s.Via != "" {
			what = "is empty (" + s.Via + ")"
		}
		return 0, &source.Error{Name: s.Name, Msg: what + ": no numbers to reduce"}
	}
	f, err := floatfile.SniffFile(s.Name, s.File, s.Size)
	if raw { // the user said -type: raw, but for a .npy, which says its own
		if err == nil && f == floatfile.NPY {
			return f, nil
		}
		return floatfile.Raw, nil
	}
	if err != nil || (f != floatfile.Gzip && f != floatfile.Zstd) {
		return f, err
	}
	d, err := source.Decompress(ctx, s, f.String(), decoders[f])
	if err != nil {
		return 0, err
	}
	s.Close()
	*src = d
	if d.Size == 0 {
		return 0, &source.Error{Name: d.Name, Msg: "is empty once decompressed: no numbers to reduce"}
	}
	f, err = floatfile.SniffFile(d.Name, d.File, d.Size)
	if f == floatfile.Gzip || f == floatfile.Zstd {
		return 0, &source.Error{Name: d.Name, Msg: "is compressed twice: decompress it first"}
	}
	return f, err
}

// inputError is a usage error (exit 2) for input that cannot be read as
// asked; anything else (a cancelled wait, a failed copy) stays as it is.
func inputError(err error) error {
	var se *source.Error
	var fe *floatfile.Error
	if errors.As(err, &se) || errors.As(err, &fe) {
		return cli.UsageError{Msg: cli.OneLineMsg(err.Error())}
	}
	return err
}

// rawHint says, after a raw file's size does not fit, what else it may be.
func rawHint(f floatfile.Format, typed bool) string {
	if f == floatfile.Raw && !typed {
		return " (and it is not text, .npy or a known format: not read)"
	}
	return ""
}

// printText prints the statistics of each column of a text file.
func printText(w io.Writer, path, via string, r filestats.TextResult) {
	kind := "text"
	if via != "" {
		kind = via + ", text"
	}
	hdr := "no header"
	if r.Header {
		hdr = "header"
	}
	fmt.Fprintf(w, "file      %s (%s, sep %q, %s, %d records", path, kind, r.Sep, hdr, r.Records)
	if r.Blank > 0 {
		fmt.Fprintf(w, ", %d blank lines", r.Blank)
	}
	fmt.Fprintf(w, ")\n")
	for i, c := range r.Columns {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "column    %s (column %d)\n", c.Name, c.Number)
		fmt.Fprintf(w, "fields    %d numbers, %d missing (empty or NA), %d not a number", c.Numbers, c.Missing, c.NotNumber)
		if c.FirstBad != nil {
			fmt.Fprintf(w, " (first: line %d, %q)", c.FirstBad.Line, c.FirstBad.Text)
		}
		fmt.Fprintln(w)
		if c.Stats == nil {
			fmt.Fprintf(w, "          no numbers in this column\n")
			continue
		}
		printStatsResult(w, *c.Stats)
	}
}
