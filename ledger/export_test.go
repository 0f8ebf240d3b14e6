package ledger

// The statements a transaction of many entries runs, for the tests of
// their generic plans.
const (
	QInsertPostings  = qInsertPostings
	QAddBalance      = qAddBalance
	QManyBalances    = qManyBalances
	QBalances        = qBalances
	QLotSummary      = qLotSummary
	QCreateLot       = qCreateLot
	QAvailablePoints = qAvailablePoints
)

// QAccountsStatement is a statement page's query, for the test of its
// generic plan.
const QAccountsStatement = qAccountsStatement
