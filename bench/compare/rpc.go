package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The worker's message codes (see worker.py).
const (
	rpcAnswer   = 0
	rpcFailed   = 1
	rpcCallback = 2
)

// worker is the RPC way's Python process: worker.py serving workloads.py
// on a Unix socket.
type worker struct {
	cmd    *exec.Cmd
	socket string
	dir    string
}

// startWorker runs worker.py with python and waits until it listens.
func startWorker(python, here string) (*worker, error) {
	dir, err := os.MkdirTemp("", "pyhost-compare-")
	if err != nil {
		return nil, err
	}
	w := &worker{socket: filepath.Join(dir, "worker.sock"), dir: dir}
	w.cmd = exec.Command(python, filepath.Join(here, "worker.py"), w.socket)
	w.cmd.Dir = here
	w.cmd.Stderr = os.Stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the RPC worker: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("the RPC worker said %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("the RPC worker did not start within 30 s")
	}
	if err != nil {
		w.close()
		return nil, fmt.Errorf("RPC worker: %w", err)
	}
	return w, nil
}

func (w *worker) close() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	}
	os.RemoveAll(w.dir)
}

// rpcConn is one caller's connection to the worker (the worker serves each
// connection on a thread of its own).
type rpcConn struct {
	conn net.Conn
	w    *bufio.Writer
	enc  *msgpack.Encoder
	dec  *msgpack.Decoder
}

func (w *worker) dial() (*rpcConn, error) {
	conn, err := net.Dial("unix", w.socket)
	if err != nil {
		return nil, err
	}
	c := &rpcConn{conn: conn, w: bufio.NewWriter(conn)}
	c.enc = msgpack.NewEncoder(c.w)
	c.dec = msgpack.NewDecoder(bufio.NewReader(conn))
	return c, nil
}

func (c *rpcConn) close() { c.conn.Close() }

// send writes one message and flushes it.
func (c *rpcConn) send(msg ...any) error {
	if err := c.enc.Encode(msg); err != nil {
		return err
	}
	return c.w.Flush()
}

// header reads a message's array header and code.
func (c *rpcConn) header() (int, error) {
	n, err := c.dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n != 2 {
		return 0, fmt.Errorf("RPC: a message of %d items, want 2", n)
	}
	return c.dec.DecodeInt()
}

// call sends [method, args] and decodes the answer into result (nil:
// discard it). callback answers the worker's callbacks meanwhile.
func (c *rpcConn) call(result any, callback func(name string) any, method string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	if err := c.send(method, args); err != nil {
		return err
	}
	for {
		code, err := c.header()
		if err != nil {
			return err
		}
		switch code {
		case rpcAnswer:
			if result == nil {
				return c.dec.Skip()
			}
			return c.dec.Decode(result)
		case rpcFailed:
			text, err := c.dec.DecodeString()
			if err != nil {
				return err
			}
			return fmt.Errorf("RPC %s: %s", method, text)
		case rpcCallback:
			name, err := c.dec.DecodeString()
			if err != nil {
				return err
			}
			if callback == nil {
				return fmt.Errorf("RPC %s: an unexpected callback %q", method, name)
			}
			if err := c.send(rpcAnswer, callback(name)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("RPC %s: unknown message code %d", method, code)
		}
	}
}

// rpcMetric is one submission as the worker sends it: [name, value, tags].
type rpcMetric struct {
	_msgpack struct{} `msgpack:",as_array"`
	Name     string
	Value    float64
	Tags     []string
}
