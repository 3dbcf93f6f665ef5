-- rule: aws-network-acl-open-to-world
-- status: coarse
-- coarse: requestParameters.cidrBlock may hold an array or object
-- coarse: requestParameters.egress may hold an array or object
-- coarse: requestParameters.ipv6CidrBlock may hold an array or object
-- coarse: requestParameters.portRange.from may hold an array or object
-- coarse: requestParameters.portRange.to may hold an array or object
-- coarse: requestParameters.protocol may hold an array or object
-- coarse: requestParameters.ruleAction may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'ec2.amazonaws.com'
  AND eventname IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND (json_extract_scalar(requestparameters, '$.egress') = 'false' OR COALESCE((json_extract(requestparameters, '$.egress') IS NOT NULL AND json_extract_scalar(requestparameters, '$.egress') IS NULL), FALSE))
  AND (lower(json_extract_scalar(requestparameters, '$.ruleAction')) = 'allow' OR COALESCE((json_extract(requestparameters, '$.ruleAction') IS NOT NULL AND json_extract_scalar(requestparameters, '$.ruleAction') IS NULL), FALSE))
  AND (json_extract_scalar(requestparameters, '$.cidrBlock') LIKE '%/0' ESCAPE '\' OR COALESCE((json_extract(requestparameters, '$.cidrBlock') IS NOT NULL AND json_extract_scalar(requestparameters, '$.cidrBlock') IS NULL), FALSE) OR json_extract_scalar(requestparameters, '$.ipv6CidrBlock') LIKE '%/0' ESCAPE '\' OR COALESCE((json_extract(requestparameters, '$.ipv6CidrBlock') IS NOT NULL AND json_extract_scalar(requestparameters, '$.ipv6CidrBlock') IS NULL), FALSE))
  AND (json_extract_scalar(requestparameters, '$.protocol') IN ('-1', 'all') OR COALESCE((json_extract(requestparameters, '$.protocol') IS NOT NULL AND json_extract_scalar(requestparameters, '$.protocol') IS NULL), FALSE) OR json_extract_scalar(requestparameters, '$.portRange.from') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017') OR COALESCE(json_array_length(json_extract(requestparameters, '$.portRange')) IS NOT NULL OR (json_extract(requestparameters, '$.portRange.from') IS NOT NULL AND json_extract_scalar(requestparameters, '$.portRange.from') IS NULL), FALSE) OR json_extract_scalar(requestparameters, '$.portRange.to') IN ('21', '22', '23', '135', '139', '445', '1433', '1521', '2375', '2376', '3306', '3389', '5432', '5439', '5601', '5900', '6379', '9200', '9300', '11211', '27017') OR COALESCE(json_array_length(json_extract(requestparameters, '$.portRange')) IS NOT NULL OR (json_extract(requestparameters, '$.portRange.to') IS NOT NULL AND json_extract_scalar(requestparameters, '$.portRange.to') IS NULL), FALSE) OR ((TRY_CAST(trim(json_extract_scalar(requestparameters, '$.portRange.from')) AS DOUBLE) <= 22 OR COALESCE(json_array_length(json_extract(requestparameters, '$.portRange')) IS NOT NULL OR (json_extract(requestparameters, '$.portRange.from') IS NOT NULL AND json_extract_scalar(requestparameters, '$.portRange.from') IS NULL), FALSE)) AND (TRY_CAST(trim(json_extract_scalar(requestparameters, '$.portRange.to')) AS DOUBLE) >= 3389 OR COALESCE(json_array_length(json_extract(requestparameters, '$.portRange')) IS NOT NULL OR (json_extract(requestparameters, '$.portRange.to') IS NOT NULL AND json_extract_scalar(requestparameters, '$.portRange.to') IS NULL), FALSE))))
