SELECT
  *,
  CAST((
    COALESCE(0.3 * (
      0.0 + 100.0 * on_time_rate
    ), 0) + COALESCE(0.25 * (
      0.0 + 100.0 * item_accuracy
    ), 0) + COALESCE(0.15 * (
      100.0 + -100.0 * cancellation_rate
    ), 0) + COALESCE(0.15 * (
      100.0 + -100.0 * refund_rate
    ), 0) + COALESCE(0.1 * (
      100.0 + -100.0 * support_rate
    ), 0) + COALESCE(0.05 * (
      -25.0 + 25.0 * rating
    ), 0)
  ) AS DOUBLE) / NULLIF(
    CASE WHEN on_time_rate IS NULL THEN 0 ELSE 0.3 END + CASE WHEN item_accuracy IS NULL THEN 0 ELSE 0.25 END + CASE WHEN cancellation_rate IS NULL THEN 0 ELSE 0.15 END + CASE WHEN refund_rate IS NULL THEN 0 ELSE 0.15 END + CASE WHEN support_rate IS NULL THEN 0 ELSE 0.1 END + CASE WHEN rating IS NULL THEN 0 ELSE 0.05 END,
    0
  ) AS cx_score
FROM (
  SELECT
    *,
    CAST(on_time_rate_num AS DOUBLE) / NULLIF(on_time_rate_den, 0) AS on_time_rate,
    CAST(item_accuracy_num AS DOUBLE) / NULLIF(item_accuracy_den, 0) AS item_accuracy,
    CAST(cancellation_rate_num AS DOUBLE) / NULLIF(cancellation_rate_den, 0) AS cancellation_rate,
    CAST(refund_rate_num AS DOUBLE) / NULLIF(refund_rate_den, 0) AS refund_rate,
    CAST(support_rate_num AS DOUBLE) / NULLIF(support_rate_den, 0) AS support_rate,
    CAST(rating_num AS DOUBLE) / NULLIF(rating_den, 0) AS rating,
    CAST(eta_abs_error_min_num AS DOUBLE) / NULLIF(eta_abs_error_min_den, 0) AS eta_abs_error_min,
    CAST(duration_min_num AS DOUBLE) / NULLIF(duration_min_den, 0) AS duration_min
  FROM (
    SELECT
      hour_start AS period,
      COUNT(*) AS orders,
      COUNT(*) FILTER(WHERE
        on_time) AS on_time_rate_num,
      COUNT(on_time) AS on_time_rate_den,
      SUM(item_lines - substituted_lines - missing_lines) FILTER(WHERE
        delivered) AS item_accuracy_num,
      SUM(item_lines) FILTER(WHERE
        delivered) AS item_accuracy_den,
      COUNT(*) FILTER(WHERE
        canceled) AS cancellation_rate_num,
      COUNT(canceled) AS cancellation_rate_den,
      COUNT(*) FILTER(WHERE
        refunded) AS refund_rate_num,
      COUNT(refunded) AS refund_rate_den,
      COUNT(*) FILTER(WHERE
        support_contact) AS support_rate_num,
      COUNT(support_contact) AS support_rate_den,
      CAST(SUM(CAST(stars AS DECIMAL(38, 12))) AS DOUBLE) AS rating_num,
      COUNT(stars) AS rating_den,
      CAST(SUM(CAST((
        stars
      ) * (
        stars
      ) AS DECIMAL(38, 12))) AS DOUBLE) AS rating_sq,
      CAST(SUM(CAST(ABS(eta_error_min) AS DECIMAL(38, 12))) AS DOUBLE) AS eta_abs_error_min_num,
      COUNT(eta_error_min) AS eta_abs_error_min_den,
      CAST(SUM(CAST((
        ABS(eta_error_min)
      ) * (
        ABS(eta_error_min)
      ) AS DECIMAL(38, 12))) AS DOUBLE) AS eta_abs_error_min_sq,
      CAST(SUM(CAST(duration_min AS DECIMAL(38, 12))) AS DOUBLE) AS duration_min_num,
      COUNT(duration_min) AS duration_min_den,
      CAST(SUM(CAST((
        duration_min
      ) * (
        duration_min
      ) AS DECIMAL(38, 12))) AS DOUBLE) AS duration_min_sq
    FROM (
      SELECT
        order_id,
        user_id,
        store_id,
        region,
        category,
        order_time,
        hour_start,
        day,
        hour,
        daypart,
        basket_value,
        basket_size,
        eta_model_version,
        quoted_min,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN delivered
        END AS delivered,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN canceled
        END AS canceled,
        batched,
        distance_miles,
        prep_min,
        dasher_wait_min,
        onshift_dashers,
        busy_dashers,
        outstanding_orders,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN duration_min
        END AS duration_min,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN eta_error_min
        END AS eta_error_min,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN on_time
        END AS on_time,
        item_lines,
        substituted_lines,
        missing_lines,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN refund_amount
        END AS refund_amount,
        CASE
          WHEN (
            resolved_at IS NULL OR resolved_at <= hour_start + INTERVAL '25200' SECOND
          )
          THEN refunded
        END AS refunded,
        CASE
          WHEN support_contact IS NULL
          THEN NULL
          ELSE COALESCE(first_ticket_at <= hour_start + INTERVAL '25200' SECOND, FALSE)
        END AS support_contact,
        CASE WHEN rated_at <= hour_start + INTERVAL '25200' SECOND THEN stars END AS stars,
        resolved_at,
        first_ticket_at,
        rated_at
      FROM order_facts
    ) AS known
    WHERE
      TRUE
      AND order_time >= CAST('1900-01-01 00:00:00' AS TIMESTAMP)
      AND order_time < CAST('9999-01-01 00:00:00' AS TIMESTAMP)
    GROUP BY
      1
  ) AS sums
) AS rates
ORDER BY
  period
