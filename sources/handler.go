package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"
)

// PublisherPath is where a source publishes its documents (SPEC §2).
const PublisherPath = "/api/publishers/documents/entities"

// HandlerOptions tunes NewHandler. Zero values mean defaults.
type HandlerOptions struct {
	// MaxLimit caps the limit parameter of a pull; 0 means no cap. A pull
	// without limit then returns at most MaxLimit entities.
	MaxLimit int
	// Logger receives request failures (default slog.Default()).
	Logger *slog.Logger
}

// NewHandler serves src over HTTP. All routes are here:
//
//	GET  /api/publishers/documents/entities?since=&limit=   JSON pull (SPEC §2)
//	GET  /content/{key...}  (and HEAD)                       document bytes
//	POST /rescan                                             rescan now, stats as JSON
//	GET  /healthz                                            liveness
//
// It has no authentication: bind it to a network only the pipeline reaches.
func NewHandler(src Source, opt HandlerOptions) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := &handler{src: src, opt: opt, log: opt.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PublisherPath, h.entities)
	mux.HandleFunc("GET /content/{key...}", h.content) // GET patterns also match HEAD
	mux.HandleFunc("POST /rescan", h.rescan)
	mux.HandleFunc("GET /healthz", h.healthz)
	return mux
}

type handler struct {
	src Source
	opt HandlerOptions
	log *slog.Logger
}

// httpError writes a fixed message; the detail goes to the log only.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

// parseInt reads an optional integer query parameter.
func parseInt(r *http.Request, name string) (int64, bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("query parameter %q must be an integer", name)
	}
	return v, true, nil
}

func (h *handler) entities(w http.ResponseWriter, r *http.Request) {
	since, _, err := parseInt(r, "since")
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, hasLimit, err := parseInt(r, "limit")
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if hasLimit && limit < 1 {
		httpError(w, http.StatusBadRequest, `query parameter "limit" must be a positive integer`)
		return
	}
	if h.opt.MaxLimit > 0 && (!hasLimit || limit > int64(h.opt.MaxLimit)) {
		limit = int64(h.opt.MaxLimit)
	}
	if limit > 1<<31 {
		limit = 0 // effectively unlimited
	}

	// The response is written page by page: each page is read into memory
	// (releasing the store's read connection before anything is written,
	// so slow clients cannot tie up the source's store), then written with
	// a write deadline. A failure before the first page went out is still a
	// clean 500; after it, the connection is aborted (the client sees a
	// broken response, never a short but valid array it would take for the
	// end).
	rc := http.NewResponseController(w)
	remaining := int(limit) // 0: no limit
	n := 0                  // entities written
	var page []byte
	for {
		want := publishPageEntities
		if remaining > 0 && remaining < want {
			want = remaining
		}
		page = page[:0]
		got, full, last := 0, false, since
		add := func(seq int64, e []byte) error {
			if n+got == 0 {
				page = append(page, '[')
			} else {
				page = append(page, ',')
			}
			page = append(page, e...)
			got++
			last = seq
			if len(page) >= publishPageBytes {
				return errPageFull
			}
			return nil
		}
		if raw, ok := h.src.(RawSource); ok {
			err = raw.RawChanges(r.Context(), since, want, add)
		} else {
			err = h.src.Changes(r.Context(), since, want, func(d Document) error {
				b, err := json.Marshal(d)
				if err != nil {
					return err
				}
				return add(d.Seq, b)
			})
		}
		if errors.Is(err, errPageFull) {
			err, full = nil, true
		}
		if err != nil {
			if n == 0 {
				h.log.Error("publish entities failed", "err", SafeError(err))
				httpError(w, http.StatusInternalServerError, "listing documents failed; see the source's log")
				return
			}
			if r.Context().Err() == nil {
				h.log.Error("publish entities failed mid-stream", "err", SafeError(err), "written", n)
			}
			panic(http.ErrAbortHandler)
		}
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			if got == 0 {
				page = append(page, '[')
			}
		}
		done := (!full && got < want) || (remaining > 0 && remaining-got <= 0)
		if done {
			page = append(page, "]\n"...)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(publishWriteTimeout)) // unsupported writers: no deadline
		if _, err := w.Write(page); err != nil {
			if r.Context().Err() == nil {
				h.log.Warn("publish entities: write failed", "err", SafeError(err), "written", n)
			}
			panic(http.ErrAbortHandler)
		}
		n += got
		if done {
			break
		}
		since = last
		if remaining > 0 {
			remaining -= got
		}
	}
	// A kept-alive connection must not carry this deadline to its next request.
	_ = rc.SetWriteDeadline(time.Time{})
}

// Publisher paging: entities are read from the source in pages of at most
// publishPageEntities entities or about publishPageBytes bytes, and each
// page must be written within publishWriteTimeout.
const (
	publishPageEntities = 1000
	publishPageBytes    = 4 << 20
	publishWriteTimeout = time.Minute
)

// errPageFull stops a page read at publishPageBytes.
var errPageFull = errors.New("page full")

func (h *handler) content(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !ValidKey(key) {
		httpError(w, http.StatusNotFound, "document not found")
		return
	}
	c, err := h.src.Open(r.Context(), key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			httpError(w, http.StatusNotFound, "document not found")
			return
		}
		h.log.Error("open document failed", "err", SafeError(err))
		httpError(w, http.StatusInternalServerError, "reading the document failed; see the source's log")
		return
	}
	defer c.Close()
	hd := w.Header()
	ct := c.MIMEType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "no-store")
	disp := "attachment"
	if c.Name != "" {
		if d := mime.FormatMediaType("attachment", map[string]string{"filename": c.Name}); d != "" {
			disp = d
		}
	}
	hd.Set("Content-Disposition", disp)
	http.ServeContent(w, r, "", c.ModTime, c)
}

func (h *handler) rescan(w http.ResponseWriter, r *http.Request) {
	stats, err := h.src.Rescan(r.Context())
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrRescanRunning):
		httpError(w, http.StatusConflict, "a rescan is already running; try again later")
		return
	case err != nil:
		h.log.Error("rescan failed", "err", SafeError(err))
		code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	resp := struct {
		ScanStats
		Error string `json:"error,omitempty"`
	}{ScanStats: stats}
	if err != nil {
		resp.Error = "rescan failed or was incomplete; no deletions were published; see the source's log"
	}
	b, _ := json.Marshal(resp)
	w.Write(append(b, '\n'))
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// SafeError renders err for a log line without file paths, which may be
// personal data: a *fs.PathError or *os.LinkError keeps its operation and
// cause but loses its paths. Other errors are assumed path-free.
func SafeError(err error) string {
	if err == nil {
		return ""
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}
