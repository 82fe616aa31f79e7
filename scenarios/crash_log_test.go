package scenarios

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The crash test's command log: each worker of each child appends, to a
// file of its own, one JSON line per command before it runs it (an intent)
// and one after Handle returned (an ack, or a refusal), and fsyncs every
// line. A killed child leaves at most each file's last line torn. The parent
// reads every log to know which aggregates may exist (intents) and which
// commands must have taken effect (acks).

// Kinds of crash log record.
const (
	crashIntent  = "intent"  // the command is about to run
	crashAck     = "ack"     // Handle returned nil: the command is committed
	crashRefused = "refused" // Handle refused the command; it changed nothing
)

// Operations the crash test's children run.
const (
	crashOpScheduleAppointment   = "schedule appointment"
	crashOpRescheduleAppointment = "reschedule appointment"
	crashOpCancelAppointment     = "cancel appointment"
	crashOpScheduleClass         = "schedule class"
	crashOpEnroll                = "enroll"
	crashOpLeave                 = "leave"
	crashOpCancelClass           = "cancel class"
)

// crashRecord is one line of a crash log.
type crashRecord struct {
	Kind string `json:"kind"`
	Op   string `json:"op"`
	// N numbers a child's commands; an ack or refusal repeats its intent's N.
	N    int64  `json:"n"`
	Site string `json:"site"`
	// ID is the aggregate the command creates or changes (the enrollment for
	// enroll and leave, the class for a class command).
	ID          string    `json:"id"`
	ClassID     string    `json:"classId,omitempty"`
	Participant string    `json:"participant,omitempty"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Capacity    int       `json:"capacity,omitempty"`
	Waitlist    bool      `json:"waitlist,omitempty"`
	// State and Version are the aggregate's after an acknowledged command,
	// as Handle returned them.
	State   string `json:"state,omitempty"`
	Version int64  `json:"version,omitempty"`
	// Err is why a command was refused.
	Err string `json:"err,omitempty"`
}

// crashLog appends records to one worker's log file, durably.
type crashLog struct {
	mu sync.Mutex
	f  *os.File
}

func crashLogPath(dir string, run, worker int) string {
	return filepath.Join(dir, fmt.Sprintf("commands-%03d-%d.jsonl", run, worker))
}

func openCrashLog(dir string, run, worker int) (*crashLog, error) {
	f, err := os.OpenFile(crashLogPath(dir, run, worker), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open crash log: %w", err)
	}
	return &crashLog{f: f}, nil
}

// write appends r as one line and returns once it is on disk.
func (l *crashLog) write(r crashRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode crash record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write crash log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync crash log: %w", err)
	}
	return nil
}

// readCrashLogs reads every worker's log in dir, in run order. Only the last
// line of a file may be torn (the child died writing it); it is skipped. A
// torn line elsewhere is an error.
func readCrashLogs(dir string) ([]crashRecord, error) {
	files, err := filepath.Glob(filepath.Join(dir, "commands-*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []crashRecord
	for _, name := range files {
		recs, err := readCrashLog(name)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func readCrashLog(name string) ([]crashRecord, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out  []crashRecord
		torn error
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if torn != nil {
			return nil, torn // a bad line that was not the last
		}
		var r crashRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			torn = fmt.Errorf("%s:%d: torn line before the end: %w", name, line, err)
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}
