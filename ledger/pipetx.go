package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeTx is the pgx.Tx of the ledger's write transactions (InTx). It
// saves a transaction two round trips of the four a group of events makes:
// its BEGIN is sent with its first statement, not on its own, and its
// COMMIT with its last batch (the platform accounts' statement, or a
// PostManyAndCommit's writes), not on its own. What runs inside is what
// would run in a transaction begun and committed on their own, in the same
// order: only the round trips differ. A transaction whose BEGIN never went
// out (nothing ran in it) has nothing to commit or roll back.
//
// Its state is read from the connection where it matters: after a batch
// that carried the COMMIT, the connection is out of any transaction block
// if the COMMIT ran, and in a failed one if a statement before it failed
// (PostgreSQL skips the rest of a pipeline after an error).
type pipeTx struct {
	conn      *pgx.Conn
	begin     []string // the statements that begin it (BEGIN, and any SET LOCAL)
	begun     bool     // its BEGIN was sent
	closed    bool     // it committed or rolled back
	committed bool
	// cancelled: its context ended while a batch carrying its COMMIT ran.
	cancelled bool
	sp        int64 // savepoints begun
}

// commitCancelWait bounds the wait for a committing batch's answer once its
// context ended and PostgreSQL was asked to cancel it, and the confirmation
// that a commit so cut short is durable.
const commitCancelWait = 5 * time.Second

// errNotCommitted is what a COMMIT answered ROLLBACK returns: the
// transaction had failed, and PostgreSQL rolled it back.
var errNotCommitted = pgx.ErrTxCommitRollback

// pipelined runs fn in a pipeTx on a connection of the pool and commits it
// (with the batch final returns, if any) when fn returns nil, or rolls it
// back. The connection goes back to the pool out of any transaction block,
// or is closed.
func pipelined(ctx context.Context, pool *pgxpool.Pool, begin []string, fn func(*pipeTx) (final *pgx.Batch, err error)) (err error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left in a transaction block is closed by Release. It is
	// released before confirm, which takes a connection of its own.
	release := sync.OnceFunc(c.Release)
	defer release()
	t := &pipeTx{conn: c.Conn(), begin: begin}
	defer func() {
		if p := recover(); p != nil {
			_ = t.Rollback(ctx)
			panic(p)
		}
	}()
	final, err := fn(t)
	switch {
	case err != nil && t.committed:
		// A caller's bug: it failed after the statement that committed.
		return &committedError{err}
	case err != nil:
		if rerr := t.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return errors.Join(err, rerr)
		}
		return err
	case t.committed && final != nil && final.Len() > 0:
		return &committedError{errors.New("statements queued after the commit")}
	case t.committed:
		release()
		return t.confirm(ctx, pool)
	case t.closed:
		return errors.New("ledger: the transaction ended without its commit")
	}
	if final == nil {
		final = &pgx.Batch{}
	}
	if !t.begun && final.Len() == 0 {
		return nil // nothing ran: nothing to commit
	}
	if err := t.sendCommitting(ctx, final).Close(); err != nil {
		if rerr := t.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return errors.Join(err, rerr)
		}
		return err
	}
	if !t.committed {
		return errors.New("ledger: the transaction's commit did not run")
	}
	release()
	return t.confirm(ctx, pool)
}

// confirm answers for a commit whose context ended while its batch ran.
// PostgreSQL was asked to cancel the batch, and answered that it had
// committed: it had reached the COMMIT before the request. That COMMIT may
// have been cut short while it waited for a synchronous standby, committed
// here and not there: it is answered committed once a commit of its own
// (durable) is durable, which covers it, and as committed with a failure
// otherwise, as a COMMIT cut short always was.
func (t *pipeTx) confirm(ctx context.Context, pool *pgxpool.Pool) error {
	if !t.cancelled {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitCancelWait)
	defer cancel()
	if err := durable(dctx, pool); err != nil {
		return &committedError{fmt.Errorf("its context ended as it committed, and its durability is not confirmed: %w", err)}
	}
	return nil
}

// durable returns once everything committed before it is as durable as a
// commit of its own (see Ledger.Durable).
//
// PostgreSQL flushes a commit, and waits for the synchronous standbys, only
// when its transaction wrote WAL before the commit record: a transaction
// id alone (pg_current_xact_id()) writes none, and such a commit is
// asynchronous and waits for nobody. A transactional message
// (pg_logical_emit_message) is the least WAL a transaction can write, and
// nothing reads it. A wait for the standbys cut short by a cancel (ctx
// ending) still answers COMMIT, with a warning only: the commit is then not
// known to be acknowledged, and durable fails.
func durable(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_logical_emit_message(true, 'tally.durable', '')`)
		return err
	})
	if err == nil && ctx.Err() != nil {
		return fmt.Errorf("ledger: the standbys' acknowledgement was not awaited: %w", ctx.Err())
	}
	return err
}

// committedError is a failure of a caller after its transaction committed:
// what it wrote stands.
type committedError struct{ err error }

func (e *committedError) Error() string {
	return "ledger: the transaction committed, then: " + e.err.Error()
}

func (e *committedError) Unwrap() error { return e.err }

// beginning prefixes b with the transaction's BEGIN when it has not been
// sent yet, and returns how many statements it put first.
func (t *pipeTx) beginning(b *pgx.Batch) (*pgx.Batch, int) {
	if t.begun {
		return b, 0
	}
	t.begun = true
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(t.begin)+len(b.QueuedQueries)+1)}
	for _, sql := range t.begin {
		nb.Queue(sql)
	}
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	return nb, len(t.begin)
}

// errBeginLost is the failure of a statement after the transaction's BEGIN
// went out and did not run (its batch failed before PostgreSQL ran it): the
// statement would run outside any transaction.
var errBeginLost = errors.New("ledger: the transaction's BEGIN did not run")

// usable reports why no statement may run in the transaction, if one may
// not: it is over, or its BEGIN went out and the connection is in no
// transaction block.
func (t *pipeTx) usable() error {
	switch {
	case t.closed:
		return pgx.ErrTxClosed
	case t.begun && t.conn.PgConn().TxStatus() == 'I':
		return errBeginLost
	}
	return nil
}

// ensureBegun sends the BEGIN on its own, for a statement that cannot
// carry it.
func (t *pipeTx) ensureBegun(ctx context.Context) error {
	if err := t.usable(); err != nil || t.begun {
		return err
	}
	t.begun = true
	_, err := t.conn.Exec(ctx, strings.Join(t.begin, "; ")) // no arguments: one simple query, one round trip
	return err
}

// SendBatch sends b, after the BEGIN if it has not gone out yet; the
// results the caller reads are b's alone.
func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.usable(); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	nb, skip := t.beginning(b)
	presize(ctx, t.conn, nb)
	br := t.conn.SendBatch(ctx, nb)
	for range skip {
		_, _ = br.Exec() // an error stays in br, for the caller's reads
	}
	return br
}

// sendCommitting sends b with the COMMIT after it, and the BEGIN before it
// if need be, in one round trip. When b has callbacks, which run after
// PostgreSQL ran the whole pipeline and could fail in Go after the COMMIT
// ran, b goes alone and the COMMIT after it. Closing the results reads
// whether it committed.
//
// The batch's answer is always read, whatever becomes of ctx: PostgreSQL
// holds the COMMIT already, so a connection dropped when ctx ends (pgx's
// way with a context that ends) could leave a transaction committed and
// its caller told it failed. When ctx ends while the batch runs, PostgreSQL
// is asked to cancel it instead: the statement running fails and the
// COMMIT is skipped, or the COMMIT had run and says so. Only if no answer
// comes within commitCancelWait is the connection dropped.
func (t *pipeTx) sendCommitting(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.usable(); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	if err := ctx.Err(); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	for _, qq := range b.QueuedQueries {
		if qq.Fn != nil {
			return &commitAfter{BatchResults: t.SendBatch(ctx, b), t: t, ctx: ctx}
		}
	}
	nb, skip := t.beginning(b)
	if nb == b {
		nb = &pgx.Batch{QueuedQueries: append(make([]*pgx.QueuedQuery, 0, b.Len()+1), b.QueuedQueries...)}
	}
	nb.Queue("commit").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() == "ROLLBACK" {
			return errNotCommitted
		}
		t.committed = true
		return nil
	})
	wctx, drop := context.WithCancel(context.WithoutCancel(ctx))
	c := &committing{t: t, drop: drop, asked: make(chan struct{})}
	c.stop = context.AfterFunc(ctx, func() {
		defer close(c.asked)
		c.timer = time.AfterFunc(commitCancelWait, drop)
		cctx, cancel := context.WithTimeout(context.Background(), commitCancelWait)
		defer cancel()
		_ = t.conn.PgConn().CancelRequest(cctx)
	})
	presize(ctx, t.conn, nb)
	c.BatchResults = t.conn.SendBatch(wctx, nb)
	for range skip {
		_, _ = c.BatchResults.Exec()
	}
	return c
}

// committing are the results of a batch that carried the COMMIT.
type committing struct {
	pgx.BatchResults
	t     *pipeTx
	stop  func() bool // stops the cancellation, if it has not begun
	drop  context.CancelFunc
	asked chan struct{} // closed once the cancellation, begun, has been asked for
	timer *time.Timer   // the cancellation's bound on the wait (set before asked closes)
}

func (c *committing) Close() error {
	err := c.BatchResults.Close()
	if !c.stop() {
		// The context ended during the batch: a cancel request was sent,
		// and could reach the connection's next statement.
		<-c.asked
		c.timer.Stop()
		c.t.cancelled = true
		_ = c.t.conn.Close(context.Background())
	}
	c.drop()
	c.t.settle()
	return err
}

// commitAfter are the results of a batch with callbacks: the COMMIT goes
// once they ran, if they all succeeded.
type commitAfter struct {
	pgx.BatchResults
	t   *pipeTx
	ctx context.Context
}

func (c *commitAfter) Close() error {
	if err := c.BatchResults.Close(); err != nil {
		return err
	}
	return c.t.sendCommitting(c.ctx, &pgx.Batch{}).Close() // the COMMIT alone, answered as it ended
}

// settle reads, after a batch that carried the COMMIT, whether the
// transaction is over: out of its block, it committed (the COMMIT's
// callback said so) or was rolled back; in it, a statement failed before
// the COMMIT, and Rollback ends it.
func (t *pipeTx) settle() {
	if t.conn.IsClosed() || t.conn.PgConn().TxStatus() == 'I' {
		t.closed = true
	}
}

// Commit commits the transaction on its own.
func (t *pipeTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if !t.begun {
		t.closed, t.committed = true, true
		return nil
	}
	tag, err := t.conn.Exec(ctx, "commit")
	t.closed = true
	if err != nil {
		if t.conn.PgConn().TxStatus() != 'I' {
			_ = t.conn.Close(ctx)
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return errNotCommitted
	}
	t.committed = true
	return nil
}

// Rollback rolls the transaction back, if it is still in its block.
func (t *pipeTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	if !t.begun || t.conn.IsClosed() || t.conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	if _, err := t.conn.Exec(ctx, "rollback"); err != nil {
		_ = t.conn.Close(ctx) // a connection in an unknown state is not reused
		return err
	}
	return nil
}

// Begin starts a savepoint; its BEGIN, if not sent yet, goes with it.
func (t *pipeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	t.sp++
	name := "sp_" + strconv.FormatInt(t.sp, 10)
	var b pgx.Batch
	b.Queue("savepoint " + name)
	if err := t.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return &pipeSavepoint{t: t, name: name}, nil
}

func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return errRows{err}, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.ensureBegun(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	return t.conn.Prepare(ctx, name, sql)
}

func (t *pipeTx) LargeObjects() pgx.LargeObjects { panic("ledger: no large objects") }

func (t *pipeTx) Conn() *pgx.Conn { return t.conn }

// errRow is a row that only fails.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errRows are rows that only fail.
type errRows struct{ err error }

func (r errRows) Close()                                       {}
func (r errRows) Err() error                                   { return r.err }
func (r errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                            { return r.err }
func (r errRows) Values() ([]any, error)                       { return nil, r.err }
func (r errRows) RawValues() [][]byte                          { return nil }
func (r errRows) Conn() *pgx.Conn                              { return nil }
func (r errRows) TypeMap() *pgtype.Map                         { return nil }

// pipeSavepoint is a savepoint of a pipeTx, as pgx's own nested
// transactions are: released on Commit, rolled back to on Rollback.
type pipeSavepoint struct {
	t      *pipeTx
	name   string
	closed bool
}

func (s *pipeSavepoint) Begin(ctx context.Context) (pgx.Tx, error) {
	if s.closed {
		return nil, pgx.ErrTxClosed
	}
	return s.t.Begin(ctx)
}

func (s *pipeSavepoint) Commit(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	_, err := s.t.Exec(ctx, "release savepoint "+s.name)
	return err
}

func (s *pipeSavepoint) Rollback(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	_, err := s.t.Exec(ctx, "rollback to savepoint "+s.name)
	return err
}

func (s *pipeSavepoint) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if s.closed {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	return s.t.SendBatch(ctx, b)
}

func (s *pipeSavepoint) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if s.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return s.t.Exec(ctx, sql, args...)
}

func (s *pipeSavepoint) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if s.closed {
		return errRows{pgx.ErrTxClosed}, pgx.ErrTxClosed
	}
	return s.t.Query(ctx, sql, args...)
}

func (s *pipeSavepoint) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if s.closed {
		return errRow{pgx.ErrTxClosed}
	}
	return s.t.QueryRow(ctx, sql, args...)
}

func (s *pipeSavepoint) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if s.closed {
		return 0, pgx.ErrTxClosed
	}
	return s.t.CopyFrom(ctx, table, columns, src)
}

func (s *pipeSavepoint) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return s.t.Prepare(ctx, name, sql)
}

func (s *pipeSavepoint) LargeObjects() pgx.LargeObjects { return s.t.LargeObjects() }

func (s *pipeSavepoint) Conn() *pgx.Conn { return s.t.conn }
