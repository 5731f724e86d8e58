SELECT
  in_slice,
  w,
  COUNT(x0),
  SUM(CAST(x0 AS DECIMAL(38, 12))),
  SUM(CAST(x0 * x0 AS DECIMAL(38, 12)))
FROM (
  SELECT
    (
      category IN ('grocery')
    ) AS in_slice,
    CASE
      WHEN t >= CAST('2025-12-28 00:00:00' AS TIMESTAMP)
      AND t < CAST('2026-01-03 00:00:00' AS TIMESTAMP)
      THEN 'baseline'
      WHEN t >= CAST('2026-01-04 18:00:00' AS TIMESTAMP)
      AND t < CAST('2026-01-04 21:00:00' AS TIMESTAMP)
      THEN 'incident'
    END AS w,
    t,
    x0
  FROM (
    SELECT
      t,
      region,
      category,
      hour,
      store_id,
      basket_size,
      daypart,
      leg_min - (
        solo_intercept + solo_slope * distance_miles
      ) AS x0
    FROM (
      SELECT
        order_time AS t,
        region,
        category,
        hour,
        store_id,
        basket_size,
        daypart,
        batched,
        distance_miles,
        duration_min - prep_min - dasher_wait_min AS leg_min,
        REGR_INTERCEPT(
          IF(NOT batched, duration_min - prep_min - dasher_wait_min, NULL),
          IF(NOT batched, distance_miles, NULL)
        ) OVER same_hour AS solo_intercept,
        REGR_SLOPE(
          IF(NOT batched, duration_min - prep_min - dasher_wait_min, NULL),
          IF(NOT batched, distance_miles, NULL)
        ) OVER same_hour AS solo_slope
      FROM order_facts
      WHERE
        delivered
      WINDOW same_hour AS (PARTITION BY region, DATE_TRUNC('HOUR', order_time))
    ) AS legs
    WHERE
      batched
  ) AS rows
) AS s
WHERE
  NOT w IS NULL
GROUP BY
  1,
  2
