// A --program for report.html's hostile-input test: KTAP whose test names, reasons and log lines carry HTML and
// script. The page must show every one of them as text and run none of them (harness/html-report.vm.test.ts).
#include <stdio.h>

int main(void)
{
	puts("KTAP version 1");
	puts("1..4");
	puts("# log: <script>window.__pwned=1</script>");
	puts("# log: <img src=x onerror=\"window.__pwned=1\">");
	puts("not ok 1 <script>window.__pwned=1</script>");
	puts("# log: </textarea><textarea>");
	puts("# log: </script><script>window.__pwned=1</script><!--");
	puts("not ok 2 <img src=x onerror=\"window.__pwned=1\">");
	puts("ok 3 </textarea><b>x</b> # SKIP </script><script>window.__pwned=1</script>");
	puts("ok 4 plain_case");
	return 1;
}
