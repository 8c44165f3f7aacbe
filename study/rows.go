package study

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/titanlb/titanlb/sim"
)

// Row is what a job produced: one line of a rows file (JSON Lines).
type Row struct {
	ID     string     `json:"id"`     // the job's ID
	Study  string     `json:"study"`  // fingerprints: the study's and its balancer's (see [Study.Fingerprint])
	Params Params     `json:"params"` // the job's parameters, balancer included
	Seed   int64      `json:"seed"`
	Result sim.Result `json:"result"` // the full result of the run
}

// MarshalLine returns the row as one line of JSON, newline included.
// Identical rows give identical lines.
func (r Row) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("study: row %s: %w", r.ID, err)
	}
	return append(b, '\n'), nil
}

// Rows is a rows file open for appending: the output of a study, which a
// rerun resumes. Each [Rows.Append] is one write(2) of one whole line to
// a file opened with O_APPEND, so a killed run leaves whole lines and at
// most a partial last one, which [OpenRows] cuts off on the next run.
// One process at a time may append to a file.
type Rows struct {
	f        *os.File
	path     string
	done     map[string]struct{}
	repaired int64
	dirty    bool
}

// OpenRows opens (creating it if needed) the rows file at path for st
// and reads the IDs of the rows already there. A last line without its
// newline (a killed run) is cut off; a complete line that is not a row,
// or a row of another base scenario or balancer configuration (see
// [Study.Fingerprint]), is an error naming the line, and the file is left
// as it was.
func OpenRows(path string, st *Study) (*Rows, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	r := &Rows{f: f, path: path, done: map[string]struct{}{}}
	good, err := scanRows(f, path, func(line int, h rowHeader) error {
		if err := st.checkRow(path, line, h); err != nil {
			return err
		}
		r.done[h.ID] = struct{}{}
		return nil
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("study: %w", err)
	}
	if end > good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("study: %s: cutting a partial last line: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("study: %w", err)
		}
		r.repaired = end - good
	}
	f.Close()
	// Reopen for appending: every write lands at the end, whole.
	if r.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	return r, nil
}

// rowHeader is the part of a row that identifies it.
type rowHeader struct {
	ID     string `json:"id"`
	Study  string `json:"study"`
	Params Params `json:"params"`
}

// scanRows reads rows from r, calling fn with each complete line's
// number (from 1) and header, and returns the offset after the last
// complete line: what follows it is a partial line. Blank lines are
// skipped.
func scanRows(r io.Reader, name string, fn func(line int, h rowHeader) error) (int64, error) {
	return scanLines(r, name, func(line int, data []byte) error {
		var h rowHeader
		if err := json.Unmarshal(data, &h); err != nil || h.ID == "" {
			if err == nil {
				err = errors.New(`no "id"`)
			}
			return fmt.Errorf("%s:%d: not a row: %v", name, line, err)
		}
		return fn(line, h)
	})
}

// scanLines calls fn for each complete, non-blank line of r and returns
// the offset after the last complete line.
func scanLines(r io.Reader, name string, fn func(line int, data []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	for n := 1; ; n++ {
		data, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // data, if any, is a partial line
		}
		if err != nil {
			return off, fmt.Errorf("study: %s: %w", name, err)
		}
		off += int64(len(data))
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if err := fn(n, data); err != nil {
			return off, fmt.Errorf("study: %w", err)
		}
	}
}

// Has reports whether the file holds a row with this ID.
func (r *Rows) Has(id string) bool {
	_, ok := r.done[id]
	return ok
}

// Len returns the number of rows in the file.
func (r *Rows) Len() int { return len(r.done) }

// Repaired returns the bytes of a partial last line that OpenRows cut off
// (0: none).
func (r *Rows) Repaired() int64 { return r.repaired }

// Append writes row as one line, in one write, unless the file already
// holds its ID (then it does nothing). The line is durable after the
// next [Rows.Sync] or [Rows.Close].
func (r *Rows) Append(row Row) error {
	if r.Has(row.ID) {
		return nil
	}
	line, err := row.MarshalLine()
	if err != nil {
		return err
	}
	if _, err := r.f.Write(line); err != nil {
		return fmt.Errorf("study: %s: %w", r.path, err)
	}
	r.done[row.ID] = struct{}{}
	r.dirty = true
	return nil
}

// Sync flushes the appended rows to stable storage (fsync).
func (r *Rows) Sync() error {
	if !r.dirty {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("study: %s: %w", r.path, err)
	}
	r.dirty = false
	return nil
}

// Close syncs and closes the file.
func (r *Rows) Close() error {
	err := r.Sync()
	if cerr := r.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("study: %s: %w", r.path, cerr)
	}
	return err
}

// CountDone returns how many of st's jobs have a row in the rows file at
// path (0 if there is no such file), reading it without changing it.
// Rows of another study are an error, as for [OpenRows].
func CountDone(path string, st *Study) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("study: %w", err)
	}
	defer f.Close()
	ids := map[string]struct{}{}
	if _, err := scanRows(f, path, func(line int, h rowHeader) error {
		if err := st.checkRow(path, line, h); err != nil {
			return err
		}
		ids[h.ID] = struct{}{}
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for j := range st.Jobs() {
		if _, ok := ids[j.ID]; ok {
			n++
		}
	}
	return n, nil
}
