package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// Follow copies the job's console log from byte offset from to w until
// the job has ended and all of its log was copied (or, with once, until
// the end of what is there now). When the SSH connection dies it waits for
// the session to reconnect and goes on from the last byte written to w:
// the log has neither a gap nor a repeat. It returns the offset reached.
//
// Ending ctx stops following (the job goes on).
func (h *Host) Follow(ctx context.Context, job string, from int64, once bool, w io.Writer, diag io.Writer) (int64, error) {
	cw := &countingWriter{w: w, n: from}
	for {
		args := []string{"follow", "--from", strconv.FormatInt(cw.n, 10)}
		if once {
			args = append(args, "--once")
		}
		args = append(args, h.JobDir(job))
		// The follower on the host ends when its standard input does:
		// keep it open for as long as this call wants output.
		stdin, closeStdin := io.Pipe()
		var stderr bytes.Buffer
		code, err := h.Sess.Run(ctx, h.AgentCommand(args...), stdin, cw, &stderr)
		closeStdin.Close()
		switch {
		case err == nil && code == 0:
			return cw.n, nil
		case err == nil:
			msg := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "jobrun: ")
			if msg == "" {
				msg = fmt.Sprintf("the follower exited with status %d", code)
			}
			return cw.n, fmt.Errorf("following %s on %s: %s", job, h.Target, msg)
		case errors.Is(err, sshconn.ErrConnectionLost) && ctx.Err() == nil:
			fmt.Fprintf(diag, "\njobrun: lost the connection to %s; the job goes on there. Reconnecting...\n", h.Target)
			if _, err := h.Sess.Conn(ctx); err != nil {
				return cw.n, err
			}
			fmt.Fprintf(diag, "jobrun: reconnected to %s; the log goes on from byte %d\n", h.Target, cw.n)
		default:
			return cw.n, err
		}
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
