package ledger

import "testing"

// The statements a transaction of many entries runs, for the tests of
// their generic plans.
const (
	QInsertPostings  = qInsertPostings
	QAddBalance      = qAddBalance
	QManyBalances    = qManyBalances
	QBalances        = qBalances
	QOpenToLock      = qOpenToLock
	QLockBalances    = qLockBalances
	QLotSummary      = qLotSummary
	QCreateLot       = qCreateLot
	QAvailablePoints = qAvailablePoints

	QAccountsOfEntries = qAccountsOfEntries
)

// QAccountsStatement is a statement page's query, for the test of its
// generic plan.
const QAccountsStatement = qAccountsStatement

// The queries of an account's statement page (Ledger.Statement), for the
// test of their generic plans.
const (
	QStatementPage     = qStatementPage
	QHotStatementPage  = qHotStatementPage
	QHotStatementAbove = qHotStatementAbove
	QHotStatementBelow = qHotStatementBelow
	QHotAboveAtMost    = qHotStatementAboveAtMost
	QHotEnds           = `SELECT ` + qHotEnds
	QHotCursor         = qHotCursor
)

// RememberAtMost bounds how many account codes l remembers per generation
// (DefaultKnownAccounts otherwise), and KnownAccounts is how many it
// remembers now.
func RememberAtMost(l *Ledger, n int) { l.known = newKnownAccounts(n) }

func KnownAccounts(l *Ledger) int { return l.known.size() }

// PreviewKeysInUse is how many keys previews of l wait for or hold now.
func PreviewKeysInUse(l *Ledger) int {
	l.previews.mu.Lock()
	defer l.previews.mu.Unlock()
	return len(l.previews.keys)
}

// QBalanceAsOf is BalanceAsOf's query, for the test of what it reads.
const QBalanceAsOf = qBalanceAsOf

// QTrialBalance is TrialBalance's query, for the test of its plan.
const QTrialBalance = qTrialBalance

// AfterFiguresRead makes ClosePeriod call fn once it has read the month's
// figures, before it takes its lock on entries.
func AfterFiguresRead(l *Ledger, fn func()) { l.afterFiguresRead = fn }

// BatchBytes and Presize are the estimate of a batch's bytes and the
// growth of a connection's write buffer to it, for their tests.
var (
	BatchBytes = batchBytes
	Presize    = presize
)

// PresizeFrom sets the estimate from which batches are presized (1 << 62:
// none) and returns the one before, which is set again when the test ends.
func PresizeFrom(tb interface{ Cleanup(func()) }, n int) (before int) {
	before = presizeMin
	presizeMin = n
	tb.Cleanup(func() { presizeMin = before })
	return before
}

// SealerRemembersAtMost bounds how many account codes l's sealer
// remembers per generation (sealCodes otherwise), and SealerCodes is how
// many it remembers now; SealerReadCodes is how many it has read.
func SealerRemembersAtMost(l *Ledger, n int) { l.codes = newAccountCodes(n) }

func SealerCodes(l *Ledger) int { return l.codes.size() }

func SealerReadCodes(l *Ledger) int {
	l.codes.mu.Lock()
	defer l.codes.mu.Unlock()
	return l.codes.missed
}

// SumAtMostAboveAHotPage sets how many postings above a hot account's page
// its statement sums before it weighs which side to sum, until the test
// ends.
func SumAtMostAboveAHotPage(t testing.TB, n int) {
	was := hotAboveAtMost
	hotAboveAtMost = n
	t.Cleanup(func() { hotAboveAtMost = was })
}
