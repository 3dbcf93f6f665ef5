package sources

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxRecordBytes is the largest single record (one JSON Lines line or one
// CloudWatch Logs message) Decode accepts; longer ones are reported as
// malformed and skipped. CloudTrail records are at most 256 KiB in
// CloudWatch Logs and rarely over 100 KiB in delivery files.
const MaxRecordBytes = 1 << 20

// Decode reads the log records in r and hands them to sink. It accepts,
// plain or gzip-compressed (including concatenated gzip members):
//   - CloudTrail delivery files, {"Records":[...]}, one or many in a row;
//   - a JSON array of CloudTrail records;
//   - JSON Lines, one CloudTrail record per line;
//   - CloudWatch Logs subscription messages ({"logEvents":[...]}), as a
//     document or one per line; messages that are CloudTrail records become
//     CloudTrail events and other messages plain log-line events.
//
// Records are decoded one at a time, so memory does not grow with the size
// of the input. A record that cannot be read is reported to sink.Malformed
// with where, line and offset, and decoding carries on; a broken JSON
// document cannot be resynchronised, so the rest of that document is
// reported as one malformed entry. Decode returns the number of events
// handed to the sink and an error only when reading r fails or the sink
// or ctx stops it.
func Decode(ctx context.Context, r io.Reader, where, source string, sink Sink) (int, error) {
	d := &decoder{ctx: ctx, where: where, source: source, sink: sink}
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("%s: gzip: %w", where, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	err := d.run(br)
	return d.n, err
}

type decoder struct {
	ctx    context.Context
	where  string
	source string
	sink   Sink
	n      int
}

func (d *decoder) malformed(offset int64, line int, format string, args ...any) {
	d.sink.Malformed(Malformed{Where: d.where, Offset: offset, Line: line, Reason: fmt.Sprintf(format, args...)})
}

func (d *decoder) emit(ev *Event) error {
	d.n++
	if d.n%1024 == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	return d.sink.Event(d.ctx, ev)
}

func (d *decoder) run(br *bufio.Reader) error {
	head, err := peekNonSpace(br, 64)
	if err != nil {
		return fmt.Errorf("%s: read: %w", d.where, err)
	}
	if len(head) == 0 {
		return nil
	}
	if head[0] == '[' || isDocumentStart(head) {
		return d.document(br, 0)
	}
	return d.lines(br)
}

// peekNonSpace returns up to n bytes starting at the first non-space byte,
// consuming the leading white space.
func peekNonSpace(br *bufio.Reader, n int) ([]byte, error) {
	for {
		b, err := br.Peek(1)
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
			continue
		}
		p, err := br.Peek(n)
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		return p, nil
	}
}

// isDocumentStart reports whether head begins an object whose first key is
// Records or messageType: a whole document to stream, not a line.
func isDocumentStart(head []byte) bool {
	if head[0] != '{' {
		return false
	}
	rest := bytes.TrimLeft(head[1:], " \t\r\n")
	return bytes.HasPrefix(rest, []byte(`"Records"`)) || bytes.HasPrefix(rest, []byte(`"messageType"`))
}

// lines reads JSON Lines. If the first line is not a complete JSON value
// (a pretty-printed object), the whole input is read as a document.
func (d *decoder) lines(br *bufio.Reader) error {
	var offset int64
	line := 0
	for {
		buf, tooLong, err := readLine(br, MaxRecordBytes)
		if len(buf) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: read: %w", d.where, err)
		}
		line++
		start := offset
		offset += int64(len(buf))
		trimmed := bytes.TrimSpace(buf)
		switch {
		case tooLong:
			d.malformed(start, line, "record longer than %d bytes", MaxRecordBytes)
		case len(trimmed) == 0:
		case line == 1 && startsDocument(trimmed):
			return d.document(io.MultiReader(bytes.NewReader(buf), br), 0)
		default:
			if derr := d.value(trimmed, start, line); derr != nil {
				return derr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// startsDocument reports whether a first line opens a pretty-printed
// document (an array, or an object spread over several lines) rather than
// holding a whole JSON Lines record.
func startsDocument(first []byte) bool {
	if first[0] == '[' {
		return true
	}
	if first[0] != '{' || json.Valid(first) {
		return false
	}
	switch first[len(first)-1] {
	case '{', '[', ',':
		return true
	}
	return false
}

// readLine reads one line including its newline. If the line is longer
// than max, the rest is discarded and tooLong is true.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			line = line[:0]
			line = append(line, ' ') // non-empty so callers count it
		}
		return line, tooLong, err
	}
}

// value handles one complete JSON value read from a line. raw is owned by
// the caller's fresh line buffer, so it is kept as the event's Raw without
// copying.
func (d *decoder) value(raw []byte, offset int64, line int) error {
	if raw[0] == '{' && (bytes.Contains(raw, []byte(`"logEvents"`)) || bytes.Contains(raw, []byte(`"Records"`))) {
		var probe struct {
			LogEvents json.RawMessage `json:"logEvents"`
			Records   json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			d.malformed(offset, line, "invalid JSON: %v", err)
			return nil
		}
		if probe.LogEvents != nil || probe.Records != nil {
			return d.document(bytes.NewReader(raw), offset)
		}
	}
	return d.record(raw, offset, line)
}

func (d *decoder) record(raw []byte, offset int64, line int) error {
	ev, err := Normalize(raw, d.source)
	if err != nil {
		d.malformed(offset, line, "%v", err)
		return nil
	}
	return d.emit(&ev)
}

// document streams JSON values with a token decoder: objects with Records
// or logEvents arrays, arrays of records, or single records.
func (d *decoder) document(r io.Reader, base int64) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.malformed(base+dec.InputOffset(), 0, "corrupt JSON, rest of input skipped: %v", err)
			return nil
		}
		return fmt.Errorf("%s: read: %w", d.where, err)
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntax(err)
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			d.malformed(base+dec.InputOffset(), 0, "expected a JSON object or array, found %v", tok)
			return nil
		}
		switch delim {
		case '[':
			if err := d.records(dec, base); err != nil {
				return syntax(err)
			}
		case '{':
			if err := d.object(dec, base); err != nil {
				return syntax(err)
			}
		default:
			d.malformed(base+dec.InputOffset(), 0, "unexpected %v", delim)
			return nil
		}
	}
}

// records reads array elements as CloudTrail records up to the closing ].
func (d *decoder) records(dec *json.Decoder, base int64) error {
	for dec.More() {
		off := base + dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if len(raw) > MaxRecordBytes {
			d.malformed(off, 0, "record longer than %d bytes", MaxRecordBytes)
			continue
		}
		if err := d.record(raw, off, 0); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ]
	return err
}

// object reads the rest of an object whose { was consumed.
func (d *decoder) object(dec *json.Decoder, base int64) error {
	start := base + dec.InputOffset() - 1
	fields := map[string]json.RawMessage{}
	sub := subscription{}
	special := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		switch key {
		case "Records":
			special = true
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			if err := d.records(dec, base); err != nil {
				return err
			}
		case "logEvents":
			special = true
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			if err := d.logEvents(dec, base, &sub); err != nil {
				return err
			}
		default:
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			fields[key] = raw
			switch key {
			case "logGroup":
				_ = json.Unmarshal(raw, &sub.group)
			case "logStream":
				_ = json.Unmarshal(raw, &sub.stream)
			case "owner":
				_ = json.Unmarshal(raw, &sub.owner)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return err
	}
	if special {
		return nil
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return d.record(raw, start, 0)
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return &json.SyntaxError{Offset: dec.InputOffset()}
	}
	return nil
}

type subscription struct {
	group, stream, owner string
}

type logEvent struct {
	ID        string      `json:"id"`
	Timestamp json.Number `json:"timestamp"`
	Message   string      `json:"message"`
}

func (d *decoder) logEvents(dec *json.Decoder, base int64, sub *subscription) error {
	for dec.More() {
		off := base + dec.InputOffset()
		var le logEvent
		if err := dec.Decode(&le); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				d.malformed(off, 0, "log event: %v", err)
				continue
			}
			return err
		}
		ev, err := LogEvent(le.ID, le.Timestamp.String(), le.Message, sub.group, sub.stream, sub.owner, d.source)
		if err != nil {
			d.malformed(off, 0, "log event %s: %v", truncate(le.ID, 64), err)
			continue
		}
		if err := d.emit(&ev); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// LogEvent turns one CloudWatch Logs event into an Event: a CloudTrail
// event when the message is a CloudTrail record, a plain log-line event
// otherwise. timestampMillis is the event's timestamp in milliseconds since
// the Unix epoch, as a decimal string; a CloudTrail record without a usable
// eventTime takes it as its time.
func LogEvent(id, timestampMillis, message, group, stream, account, source string) (Event, error) {
	if len(message) > MaxRecordBytes {
		return Event{}, fmt.Errorf("message longer than %d bytes", MaxRecordBytes)
	}
	ms, tsErr := strconv.ParseInt(timestampMillis, 10, 64)
	msg := bytes.TrimSpace([]byte(message))
	if len(msg) > 0 && msg[0] == '{' && bytes.Contains(msg, []byte(`"eventVersion"`)) {
		ev, err := Normalize(msg, source)
		if err == nil {
			ev.LogGroup, ev.LogStream = group, stream
			if ev.Time.IsZero() && tsErr == nil {
				ev.Time = time.UnixMilli(ms).UTC()
				for i, w := range ev.Warnings {
					if strings.HasPrefix(w, "eventTime:") {
						ev.Warnings[i] = w + "; used the log event's timestamp"
					}
				}
			}
			return ev, nil
		}
	}
	if tsErr != nil {
		return Event{}, fmt.Errorf("timestamp %q is not a number of milliseconds", truncate(timestampMillis, 32))
	}
	if id == "" {
		id = "synthetic-" + hashHex([]byte(group+"\x00"+stream+"\x00"+timestampMillis+"\x00"+message))
	}
	return Event{
		Time:      time.UnixMilli(ms).UTC(),
		ID:        id,
		Source:    source,
		Account:   account,
		LogGroup:  group,
		LogStream: stream,
		Message:   message,
	}, nil
}
