DROP FUNCTION draw_named_lots(text, bigint[], bigint[]);
