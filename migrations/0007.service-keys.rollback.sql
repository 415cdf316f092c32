-- Cursors signed with the stored key stop verifying once it is gone (clients start over).
DROP TABLE service_keys;
