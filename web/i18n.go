package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/loyalty"
)

// The pages' languages: simplified Chinese by default, English by choice.
const (
	langZH = "zh-CN"
	langEN = "en"
)

const langCookie = "tally_lang"

// language is the page's language: ?lang= (which is remembered in a
// cookie), else the cookie, else the first of zh or en in Accept-Language,
// else Chinese.
func language(c echo.Context) string {
	if l := c.Get("web.lang"); l != nil {
		return l.(string)
	}
	lang := ""
	if q := c.QueryParam("lang"); q == langEN || q == langZH {
		lang = q
		c.SetCookie(&http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true,
			Secure: overTLS(c), SameSite: http.SameSiteLaxMode})
	} else if ck, err := c.Cookie(langCookie); err == nil && (ck.Value == langEN || ck.Value == langZH) {
		lang = ck.Value
	} else {
		lang = fromAcceptLanguage(c.Request().Header.Get("Accept-Language"))
	}
	c.Set("web.lang", lang)
	return lang
}

// fromAcceptLanguage is en when English comes before any Chinese in the
// header (weights aside: browsers list languages in order of preference),
// else zh-CN.
func fromAcceptLanguage(h string) string {
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(tag)
		switch {
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return langEN
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			return langZH
		}
	}
	return langZH
}

func hasMessage(key string) bool {
	_, ok := messages[key]
	return ok
}

// translate is the message key in lang, formatted with args; an unknown
// key shows as itself, so that a missing message is seen, not hidden.
func translate(lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == langEN {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// messages are each key's text in Chinese and in English.
var messages = map[string][2]string{
	"skip":         {"跳到正文", "Skip to content"},
	"nav.label":    {"主导航", "Main"},
	"signout":      {"退出", "Sign out"},
	"back":         {"返回", "Back"},
	"portal.name":  {"会员中心", "Member portal"},
	"console.name": {"财务控制台", "Finance console"},
	"unit.points":  {"积分", "points"},

	"index.title":               {"Tally", "Tally"},
	"index.portal":              {"会员中心：用客户密钥登录（通常从应用中的链接进入）", "Member portal: sign in with a customer key (customers usually arrive through a link from the app)"},
	"index.console":             {"财务控制台：用财务或管理员密钥登录", "Finance console: sign in with a finance or admin key"},
	"enter.title":               {"打开您的账户", "Open your account"},
	"enter.lead":                {"点击下方按钮，查看您的积分和预付款。此链接只能使用一次。", "Tap the button to see your points and prepaid balance. This link works once."},
	"enter.submit":              {"打开", "Open"},
	"page.hidden_accounts":      {"另有 %d 个客户账户未列出（合计已包含）：下载 CSV 查看全部。", "%d more customer accounts are not listed (the totals include them): the CSV lists every one."},
	"page.hidden_customers":     {"另有 %d 位客户未列出（合计已包含）：下载 CSV 查看全部。", "%d more customers are not listed (the total includes them): the CSV lists every one."},
	"signin.title":              {"登录", "Sign in"},
	"signin.customer_key":       {"客户密钥", "Customer key"},
	"signin.finance_key":        {"财务或管理员密钥", "Finance or admin key"},
	"signin.submit":             {"登录", "Sign in"},
	"signin.portal_hint":        {"通常您会从我们的应用中的链接直接进入。", "You usually arrive through a link from our app."},
	"signin.console_hint":       {"密钥只用于本次登录，不会保存在浏览器中。", "The key is used to sign in only; the browser never keeps it."},
	"signin.unknown_key":        {"密钥无效。", "That key is not valid."},
	"signin.wrong_role":         {"此密钥不能登录这里。", "This key cannot sign in here."},
	"error.title":               {"出错了", "Something went wrong"},
	"error.link_spent":          {"此链接已使用或已过期。请从应用中重新打开。", "This link has been used or has expired. Open the portal again from the app."},
	"error.signed_out":          {"您已退出或会话已过期。请从应用中重新打开。", "You are signed out or your session has expired. Open the portal again from the app."},
	"error.csrf":                {"表单已过期，请返回重试。", "The form has expired; go back and try again."},
	"error.internal":            {"服务暂时出错，请稍后再试。", "The service failed; try again later."},
	"error.generic":             {"请求未能完成。", "The request could not be completed."},
	"error.reports_busy":        {"报表正忙，请几秒后刷新重试。", "Other reports are being prepared; reload this page in a few seconds."},
	"error.not_found":           {"找不到该内容。", "Not found."},
	"error.invalid":             {"输入无效。", "The input is not valid."},
	"error.unknown_product":     {"没有此商品。", "There is no such product."},
	"error.insufficient_points": {"可用积分不足。", "Not enough available points."},
	"error.not_eligible":        {"您的等级还不能兑换此商品。", "Your level cannot redeem this product yet."},
	"error.out_of_stock":        {"已兑完。", "Out of stock."},
	"error.outside_window":      {"不在兑换时间内。", "Not redeemable at this time."},
	"error.already_cancelled":   {"此兑换已取消。", "This redemption is already cancelled."},
	"error.limit_reached":       {"已达兑换上限。", "You have reached the limit for this product."},
	"busy.title":                {"请稍候", "One moment"},
	"busy.lead":                 {"您同时打开的页面太多，请稍等一秒再试。", "Too many of your pages are loading at once; wait a second and try again."},
	"busy.again":                {"重试", "Try again"},

	"overview.title":         {"我的账户", "My account"},
	"tier.title":             {"等级", "Tier"},
	"tier.level":             {"%d 级", "level %d"},
	"tier.this_month":        {"本月发货金额", "Shipped this month"},
	"tier.next":              {"距离 %s 还需发货 ¥%s", "Ship ¥%[2]s more this month to reach %[1]s"},
	"tier.top":               {"您已是最高等级。", "You are at the top level."},
	"segment.floating":       {"浮动客户", "Floating"},
	"segment.regular":        {"普通客户", "Regular"},
	"segment.mid":            {"中端客户", "Mid-tier"},
	"segment.vip":            {"VIP 客户", "VIP"},
	"segment.project":        {"项目客户", "Project"},
	"points.heading":         {"积分", "Points"},
	"points.balance":         {"积分余额", "Balance"},
	"points.available":       {"可用", "Available"},
	"points.pending":         {"待生效", "Pending"},
	"expiring.title":         {"积分到期时间", "When your points expire"},
	"expiring.date":          {"过期日期", "Expires on"},
	"expiring.points":        {"积分", "Points"},
	"expiring.zone":          {"日期为北京时间（Asia/Shanghai），当日 0 点过期。", "Dates are in Asia/Shanghai; points expire at the start of the day."},
	"expiring.none":          {"没有待到期的积分。", "No points are due to expire."},
	"prepaid.title":          {"预付款", "Prepaid"},
	"prepaid.principal":      {"本金", "Principal"},
	"prepaid.rebate":         {"返利", "Rebate"},
	"prepaid.more":           {"查看充值与扣款", "See deposits and charges"},
	"prepaid.deposits":       {"充值", "Deposits"},
	"prepaid.charges":        {"扣款", "Charges"},
	"prepaid.when":           {"日期", "Date"},
	"prepaid.amount":         {"金额", "Amount"},
	"prepaid.rate":           {"返利比例", "Rebate rate"},
	"prepaid.rebate_granted": {"返利", "Rebate"},
	"prepaid.shipment":       {"运单", "Shipment"},
	"prepaid.from_principal": {"本金支付", "From principal"},
	"prepaid.from_rebate":    {"返利支付", "From rebate"},
	"prepaid.reversed":       {"已冲正", "reversed"},
	"prepaid.none":           {"暂无记录。", "None yet."},

	"statement.title":           {"账单", "Statement"},
	"statement.when":            {"记账时间", "Recorded"},
	"statement.dated":           {"（发生于 %s）", " (dated %s)"},
	"statement.account.prepaid": {"本金", "principal"},
	"statement.account.rebate":  {"返利", "rebate"},
	"statement.what":            {"说明", "What"},
	"statement.change":          {"变动", "Change"},
	"statement.empty":           {"暂无记录。", "Nothing yet."},
	"pager.label":               {"翻页", "Pages"},
	"pager.first":               {"最新", "Latest"},
	"pager.older":               {"更早", "Older"},

	"catalog.title":              {"积分商城", "Rewards"},
	"catalog.available":          {"可用积分：", "Available points:"},
	"catalog.redeem":             {"兑换", "Redeem"},
	"catalog.why_not":            {"暂不可兑换：", "Not now:"},
	"catalog.empty":              {"暂无商品。", "No products yet."},
	"catalog.more":               {"更多商品", "More products"},
	"catalog.first":              {"从头看", "From the start"},
	"reason.not_eligible":        {"等级不足", "your level is too low"},
	"reason.outside_window":      {"不在兑换时间内", "outside its dates"},
	"reason.out_of_stock":        {"已兑完", "out of stock"},
	"reason.limit_reached":       {"已达兑换上限", "limit reached"},
	"reason.insufficient_points": {"可用积分不足", "not enough available points"},
	"reason.needs_level":         {"需要达到 %d 级", "needs level %d"},
	"reason.short_by":            {"可用积分还差 %s", "%s more available points needed"},
	"redeem.title":               {"确认兑换", "Confirm redemption"},
	"redeem.confirm":             {"用积分兑换“%s”，每件 %s 积分。", "Redeem “%s” for %s points each."},
	"redeem.quantity":            {"数量", "Quantity"},
	"redeem.submit":              {"确认兑换", "Confirm"},
	"redemption.title":           {"兑换记录", "Redemption"},
	"redemption.product":         {"商品", "Product"},
	"redemption.points":          {"积分", "Points"},
	"redemption.status":          {"状态", "Status"},
	"redemption.when":            {"时间", "When"},
	"status.redeemed":            {"已兑换", "Redeemed"},
	"done.redeemed":              {"兑换成功：%s × %d，使用 %s 积分。", "Redeemed: %s × %d, for %s points."},
	"done.cancelled":             {"兑换已取消：%[3]s 积分已退回。", "Cancelled: %[3]s points are back in your balance."},
	"status.cancelled":           {"已取消", "Cancelled"},
	"cancel.legend":              {"取消兑换", "Cancel the redemption"},
	"cancel.sure":                {"确定取消，退回 %s 积分", "Yes, cancel it and return %s points"},
	"cancel.submit":              {"取消兑换", "Cancel redemption"},
	"cancel.keep":                {"返回", "Back"},

	"redemptions.title":                 {"我的兑换", "My redemptions"},
	"redemptions.product":               {"商品", "Product"},
	"redemptions.cancel":                {"取消", "Cancel"},
	"redemptions.cancel_one":            {"取消兑换", "Cancel"},
	"redemptions.empty":                 {"暂无兑换。", "No redemptions yet."},
	"redemptions.all":                   {"全部兑换", "All redemptions"},
	"redemptions.why.already_cancelled": {"已取消", "Already cancelled"},
	"redemptions.why.other_space":       {"经合作方应用兑换，请在该应用中取消", "Made through the company's app: cancel it there"},

	"tb.title":              {"试算平衡表", "Trial balance"},
	"tb.as_of":              {"截至", "As of"},
	"tb.close_of":           {"月末账簿", "Close of month"},
	"tb.closing":            {"%s 月末的账簿：计入该月最后一刻（%s）及之前生效的全部分录，不含下月第一刻的分录。", "The books at the close of %s: every entry effective up to its last instant (%s), none of the next month's first."},
	"tb.account":            {"科目", "Account"},
	"tb.asset":              {"资产", "Asset"},
	"tb.debit":              {"借方", "Debit"},
	"tb.credit":             {"贷方", "Credit"},
	"tb.totals":             {"合计", "Totals"},
	"tb.balanced":           {"平衡", "balanced"},
	"tb.unbalanced":         {"不平衡", "NOT balanced"},
	"form.show":             {"查看", "Show"},
	"form.from":             {"起始月份（含）", "From month (inclusive)"},
	"form.to":               {"截止月份（含）", "To month (inclusive)"},
	"form.month":            {"月份", "Month"},
	"csv.download":          {"下载 CSV", "Download CSV"},
	"rebates.title":         {"返利滚动表", "Rebate roll-forward"},
	"rebates.customer":      {"客户", "Customer"},
	"rebates.opening":       {"期初", "Opening"},
	"rebates.granted":       {"发放", "Granted"},
	"rebates.used":          {"扣款使用", "Used by charges"},
	"rebates.clawed":        {"收回", "Clawed back"},
	"rebates.adjust":        {"调整", "Adjustments"},
	"rebates.closing":       {"期末", "Closing"},
	"rebates.deposits":      {"充值", "Deposits"},
	"rebates.rate":          {"实际返利率", "Effective rate"},
	"rebates.total":         {"合计", "Total"},
	"rebates.chart":         {"每月发放与使用的返利", "Rebate granted and used by month"},
	"points.title":          {"积分负债滚动表", "Points liability roll-forward"},
	"points.channel":        {"项目", "Line"},
	"points.opening":        {"期初", "Opening"},
	"points.earned":         {"获得：%s", "Earned: %s"},
	"points.earned_total":   {"获得合计", "Earned in total"},
	"points.redeemed":       {"兑换（扣除取消）", "Redeemed (net of cancellations)"},
	"points.expired":        {"过期", "Expired"},
	"points.owed":           {"退款未能收回（计为欠分）", "Owed on refunds (not taken back)"},
	"points.settled":        {"欠分已抵还", "Owed points settled"},
	"points.closing":        {"期末", "Closing"},
	"points.chart":          {"每月按渠道获得的积分", "Points earned by channel and month"},
	"points.note":           {"获得按渠道列示，已扣除退款应收回的积分；其中未能收回的部分由客户欠下，计入欠分（加回），客户抵还的欠分计入欠分已抵还（减去）。期初 + 获得合计 − 兑换 − 过期 + 欠分 − 欠分已抵还 = 期末。", "Earned is by channel, net of what refunds were due to take back; what a refund could not take back the customer owes (added back as owed), and what customers paid of it is settled (taken off). Opening + earned in total − redeemed − expired + owed − settled = closing."},
	"channel.volume":        {"发货", "volume"},
	"channel.referral":      {"推荐", "referrals"},
	"channel.feedback":      {"评价", "feedback"},
	"channel.campaign":      {"活动", "campaigns"},
	"channel.adjustment":    {"调整", "adjustments"},
	"segments.title":        {"客户金字塔", "Customer pyramid"},
	"segments.segment":      {"分层", "Segment"},
	"segments.class":        {"类别", "Class"},
	"segments.customers":    {"客户数", "Customers"},
	"segments.contribution": {"贡献", "Contribution"},
	"segments.share":        {"占比", "Share"},
	"segments.pyramid":      {"按分层的客户数", "Customers by segment"},
	"segments.note":         {"按客户当月自身的发货贡献分层。客户的当前等级取上月与本月中较高者，可能高于此处。", "Each customer is counted in the segment of their own contribution in the month. A customer's tier is the higher of last month's and this month's, so it may be above the segment shown here."},
	"segments.abc":          {"A/B/C 分类的贡献占比", "Share of contribution by A/B/C class"},
	"class.A":               {"A（前 5%）", "A (top 5%)"},
	"class.B":               {"B（其后 15%）", "B (next 15%)"},
	"class.C":               {"C（其余 80%）", "C (other 80%)"},
	"recon.title":           {"对账", "Reconciliation"},
	"recon.check":           {"检查", "Check"},
	"recon.result":          {"结果", "Result"},
	"recon.offending":       {"不符合的项", "What breaks it"},
	"recon.pass":            {"通过", "pass"},
	"recon.fail":            {"未通过", "FAIL"},
	"recon.all_pass":        {"全部检查通过。", "Every check passes."},
	"recon.some_fail":       {"有检查未通过。", "Some checks fail."},
}

// say is a statement entry's wording in lang: English as the API writes
// it, or Chinese from wordingZH (segments' names from messages).
func say(lang string, w loyalty.Wording) string {
	if lang == langEN {
		return w.String()
	}
	return w.Say(func(key string) string {
		if s, ok := wordingZH[key]; ok {
			return s
		}
		if m, ok := messages[key]; ok {
			return m[0]
		}
		return ""
	})
}

// wordingZH is the Chinese of loyalty.WordingEnglish's messages, and of
// the accounts and entry kinds a statement names.
var wordingZH = map[string]string{
	"desc.referral":             "推荐奖励 %[1]d 积分：%[2]s 的发货 %[3]s",
	"desc.shipment":             "发货 %[2]s 获得 %[1]d 积分（%[3]s ×%[4]s",
	"desc.campaign":             "，活动 %s ×%s",
	"desc.close":                "）",
	"desc.referral_cancelled":   "推荐奖励 %[1]d 积分取消：%[2]s 的发货 %[3]s 已全额退款",
	"desc.owed":                 "；另欠 %s 积分，将从您之后获得的积分中扣还",
	"desc.refund":               "发货 %[2]s 退款，收回 %[1]d 积分",
	"desc.refund_rating":        "（全额退款：其评价所得 %s 积分一并收回）",
	"desc.settlement":           "%d 积分用于抵还退款时未能收回的积分（",
	"desc.settled":              "发货 %[2]s %[1]d 积分",
	"desc.separator":            "，",
	"desc.settled_expired":      "，来自过期后退回的积分",
	"desc.feedback":             "评价发货 %[2]s 获得 %[1]d 积分",
	"desc.redemption":           "兑换 %[3]s ×%[2]s（%[4]s），使用 %[1]d 积分",
	"desc.redemption_cancel":    "兑换已取消，退回 %[1]d 积分（%[2]s）",
	"desc.expiry":               "%d 积分已过期",
	"desc.expiry_undone":        "过期处理 %[2]s 已撤销，恢复 %[1]d 积分（%[3]s）",
	"desc.reversal":             "更正此前的%s：%s",
	"desc.other":                "%s：",
	"desc.points":               "%+d 积分",
	"desc.money":                "%[2]s %[1]s 元",
	"desc.reason":               "（%s）",
	"account.points":            "积分",
	"account.prepaid":           "预付本金",
	"account.rebate":            "返利",
	"kind.deposit":              "充值",
	"kind.charge":               "运费扣款",
	"kind.withdrawal":           "提现",
	"kind.manual":               "人工调整",
	"kind.reversal":             "更正",
	"kind.shipment.completed":   "发货积分",
	"kind.shipment.refunded":    "退款",
	"kind.feedback.submitted":   "评价积分",
	"kind.redemption":           "兑换",
	"kind.redemption.cancelled": "取消兑换",
	"kind.expiry":               "积分过期",
	"kind.expiry.undone":        "撤销过期",
	"kind.points.settled":       "抵还欠分",
}

// checksZH is the Chinese of each reconciliation check's description, by
// the check's name.
var checksZH = map[string]string{
	"entries_balance":              "每笔分录的过账按资产合计为零",
	"assets_sum_to_zero":           "按资产计，所有过账与所有存储余额各自合计为零",
	"balances_match_postings":      "每个存储余额等于其账户的过账之和",
	"kept_balances_match_postings": "每个在已结账月末保存的余额等于其账户在该时点前生效的过账之和",
	"no_forbidden_negative":        "不允许为负的账户都不低于零",
	"never_below_zero_by_date":     "不允许为负的账户在任何时点都不低于零：按生效时间而非记账顺序计算（列出首次低于零的时点）",
	"owed_not_negative":            "没有客户欠负数积分：每个 points_owed 账户都小于或等于零",
	"points_match_lots":            "每位客户的积分余额等于其积分批次剩余数量之和",
	"lots_match_draws":             "每个积分批次的剩余数量等于其数量减去扣减从中取走的数量",
	"lots_match_credits":           "每个积分批次的数量等于存入它的贷记（共享批次：指明它的过账；独立批次：开立它的分录的过账），且过账只指明本账户的共享批次",
	"references_intact":            "每笔过账指向存在的分录及同资产的存在账户，每个积分批次指向存在的分录和账户",
	"balance_after_where_kept":     "过账恰在其账户不允许为负时记录其后的余额：此类账户的对账单据此读取",
	"amounts_respect_scale":        "没有过账比其资产的小数位更细",
	"reversals_mirror":             "每笔冲正的过账与被冲正分录的过账正好相反",
	"rebates_match_rules":          "每笔充值的返利等于按其记录的规则版本计算的金额",
	"event_rows_intact":            "每条发货、事件和月度记录都指向存在的客户、API 密钥和分录；每个事件都在其密钥的空间内",
	"owed_within_due":              "每笔退款的收回加上其抵还不超过应收回的积分，且所欠积分与账簿一致",
}
