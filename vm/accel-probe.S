/* KVM probe firmware (64 KiB, loaded with -bios): walks real -> protected -> long mode, the same
 * transitions a kernel boot makes, then writes 0x31 to isa-debug-exit so QEMU exits with code 99.
 * A host where KVM cannot run guests (nested "KVM internal error") fails before reaching the write.
 * The image is mapped at 0xF0000 and at 0xFFFF0000; the reset vector jumps to the low copy.
 * harness/qemu/accel.ts embeds the bytes; regenerate them with
 *   as --64 -o p.o accel-probe.S && ld -m elf_x86_64 -e 0 -Ttext=0 --oformat binary -o p.bin p.o
 * (harness/qemu/accel.test.ts checks that the embedded bytes equal this build). */
	.set BASE, 0xF0000
	.code16
	.text
start16:
	cli
	lgdtl %cs:gdtr
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $(BASE + pm32)
	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	/* Identity-map the first 2 MiB with one large page: PML4 0x1000, PDPT 0x2000, PD 0x3000. */
	movl $0x1000, %edi
	xorl %eax, %eax
	movl $0xC00, %ecx
	rep stosl
	movl $0x2003, 0x1000
	movl $0x3003, 0x2000
	movl $0x83, 0x3000
	movl $0x1000, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $0xC0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmp $0x18, $(BASE + lm64)
	.code64
lm64:
	movb $0x31, %al
	outb %al, $0xf4
1:	hlt
	jmp 1b
	.p2align 3
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00AF9A000000FFFF
gdtr:
	.word gdtr - gdt - 1
	.long BASE + gdt
	.org 0xFFF0, 0xF4
	.code16
reset:
	ljmp $0xF000, $start16
	.org 0x10000, 0xF4
