-- from_epoch_us was declared IMMUTABLE over a body that is only STABLE
-- (timestamptz + interval depends on the time zone setting), and PostgreSQL
-- inlines a SQL function only when the two agree: every call went through
-- the SQL-function executor and was planned anew, four times per admission.
-- No index or constraint uses it, so it can say what it is.
ALTER FUNCTION from_epoch_us(bigint) STABLE;
