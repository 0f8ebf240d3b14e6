package fault

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// The one place that reads PostgreSQL's error codes (SQLSTATEs). Callers
// ask what a database error means, and turn it into an *Error of their own
// words where it is a refusal.

// pgError is err's PostgreSQL error, or nil.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func violates(err error, sqlstate, constraint string) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == sqlstate && (constraint == "" || pe.ConstraintName == constraint)
}

// UniqueViolation reports whether err is a unique violation of the named
// constraint, or of any constraint when constraint is "".
func UniqueViolation(err error, constraint string) bool {
	return violates(err, pgerrcode.UniqueViolation, constraint)
}

// Detail is the DETAIL of err's PostgreSQL error (what a function of the
// schema says of its refusal), or "".
func Detail(err error) string {
	if pe := pgError(err); pe != nil {
		return pe.Detail
	}
	return ""
}

// CheckViolation reports whether err is a check violation of the named
// constraint (a CHECK, or a constraint name the schema's functions raise
// with), or of any when constraint is "".
func CheckViolation(err error, constraint string) bool {
	return violates(err, pgerrcode.CheckViolation, constraint)
}

// ForeignKeyViolation reports whether err is a foreign key violation of
// the named constraint, or of any when constraint is "".
func ForeignKeyViolation(err error, constraint string) bool {
	return violates(err, pgerrcode.ForeignKeyViolation, constraint)
}

// NotNullViolation reports whether err is a NOT NULL violation.
func NotNullViolation(err error) bool {
	return violates(err, pgerrcode.NotNullViolation, "")
}

// Transient reports whether err is a serialization failure, a deadlock
// or notices out of order (NoticesOutOfOrder): the transaction that met it
// may simply be run again.
func Transient(err error) bool {
	pe := pgError(err)
	return pe != nil && (pe.Code == pgerrcode.SerializationFailure || pe.Code == pgerrcode.DeadlockDetected ||
		pe.Code == noticesOutOfOrder)
}

// noticesOutOfOrder is the SQLSTATE notices_follow (migration 0052) raises,
// in class 40 (transaction rollback): a transaction that locked several
// customers must run again, so that its notifications follow those
// committed meanwhile.
const noticesOutOfOrder = "40T01"

// NoticesOutOfOrder reports whether err is notices_follow's refusal: a
// notification of a customer the transaction locked committed with a later
// transaction id than its own while it waited for its locks.
func NoticesOutOfOrder(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == noticesOutOfOrder
}

// RecoveryConflict reports whether err, met on a standby's connection, is
// the standby cancelling the query (or ending the session) for a conflict
// with recovery: replaying the primary's WAL would remove row versions the
// query's snapshot may need (VACUUM), or take a lock it holds (DROP,
// TRUNCATE, LOCK), and the standby waited max_standby_streaming_delay for
// it. PostgreSQL raises it as a serialization failure (40001: "canceling
// statement due to conflict with recovery"), as a deadlock (40P01) when
// the query held up replay waiting for a buffer pin, or as 57P04 when the
// database was dropped. A read-only transaction on a standby meets no
// serialization failure or deadlock otherwise (SERIALIZABLE is refused
// there), so the codes say enough; on a primary's connection the same
// codes are Transient's ordinary collisions, and this is not the question
// to ask of them.
func RecoveryConflict(err error) bool {
	pe := pgError(err)
	return pe != nil && (pe.Code == pgerrcode.SerializationFailure || pe.Code == pgerrcode.DeadlockDetected ||
		pe.Code == pgerrcode.DatabaseDropped)
}

// UndefinedTable reports whether err says a table does not exist.
func UndefinedTable(err error) bool {
	return violates(err, pgerrcode.UndefinedTable, "")
}

// DatabaseLost reports whether err says the database could not do the
// work because the connection to it is gone or could not be made, or
// because it is not (or no longer) a writable primary: a failover in
// progress. Nothing of a transaction that met it was acknowledged; once
// a primary answers again the same request may be sent again.
func DatabaseLost(err error) bool {
	if err == nil {
		return false
	}
	if pe := pgError(err); pe != nil {
		switch pe.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow,
			pgerrcode.ReadOnlySQLTransaction, pgerrcode.TooManyConnections:
			return true
		}
		return len(pe.Code) == 5 && pe.Code[:2] == "08" // connection exception
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) ||
		// What a pipeline's later statements meet once a failure closed
		// its connection: they may have been sent, so pgx does not call
		// it safe to retry, and a request retried with its key is done
		// exactly once either way.
		errors.Is(err, pgconn.ErrConnClosed)
}
