package notify

// QBacklog is Backlog's statement.
const QBacklog = qBacklog
