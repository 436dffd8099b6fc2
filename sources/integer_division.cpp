#include <iostream>

void showDivision(int dividend, int divisor) {
    int quotient = dividend / divisor;
    int remainder = dividend % divisor;
    std::cout << dividend << " / " << divisor << " = " << quotient
              << " remainder " << remainder << std::endl;
}

int main() {
    showDivision(17, 5);
    showDivision(-17, 5);
    showDivision(17, -5);
    showDivision(100, 7);
    return 0;
}
